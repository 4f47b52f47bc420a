package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus"
)

// fullFile sets every key; its relative paths resolve against its
// directory ($DIR in the tests).
const fullFile = `
brokers: [file-1:9093, " file-2:9093 "]
client_id: from-file
tls:
  enabled: false
  ca: ca.pem
  cert: /abs/client.pem
  key: keys/client-key.pem
sasl:
  mechanism: SCRAM-SHA-256
  user: file-user
  password: file-secret
`

// connCase is one run of the flag, environment and file resolution. "$DIR"
// in args, env, other and want stands for the test's temp dir; file is
// written to $DIR/saga.yaml and other to $DIR/other.yaml.
type connCase struct {
	name  string
	args  []string
	env   map[string]string
	file  string
	other string
	want  bus.Config // for successes
	errs  []string   // for failures: each must appear
}

func TestConnectionPrecedence(t *testing.T) {
	fromFile := bus.Config{
		Brokers:  []string{"file-1:9093", "file-2:9093"},
		ClientID: "from-file",
		TLS:      bus.TLSConfig{CAFile: "$DIR/ca.pem", CertFile: "/abs/client.pem", KeyFile: "$DIR/keys/client-key.pem"},
		SASL:     bus.SASLConfig{Mechanism: "SCRAM-SHA-256", User: "file-user", Password: "file-secret"},
	}
	allEnv := map[string]string{
		"KAFKA_BROKERS": "env-1:9092, env-2:9092", "KAFKA_CLIENT_ID": "from-env",
		"KAFKA_TLS_CA": "/env/ca.pem", "KAFKA_TLS_CERT": "/env/c.pem", "KAFKA_TLS_KEY": "/env/k.pem",
		"KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USER": "env-user", "KAFKA_SASL_PASSWORD": "env-secret",
	}
	fromEnv := bus.Config{
		Brokers:  []string{"env-1:9092", "env-2:9092"},
		ClientID: "from-env",
		TLS:      bus.TLSConfig{CAFile: "/env/ca.pem", CertFile: "/env/c.pem", KeyFile: "/env/k.pem"},
		SASL:     bus.SASLConfig{Mechanism: "PLAIN", User: "env-user", Password: "env-secret"},
	}
	allFlags := []string{"--brokers", "flag-1:9094", "--client-id", "from-flag", "--tls-ca", "/flag/ca.pem",
		"--tls-cert", "/flag/c.pem", "--tls-key", "/flag/k.pem", "--sasl-mechanism", "SCRAM-SHA-512",
		"--sasl-user", "flag-user", "--sasl-password", "flag-secret"}
	fromFlags := bus.Config{
		Brokers:  []string{"flag-1:9094"},
		ClientID: "from-flag",
		TLS:      bus.TLSConfig{CAFile: "/flag/ca.pem", CertFile: "/flag/c.pem", KeyFile: "/flag/k.pem"},
		SASL:     bus.SASLConfig{Mechanism: "SCRAM-SHA-512", User: "flag-user", Password: "flag-secret"},
	}
	withFile := []string{"--config", "$DIR/saga.yaml"}

	cases := []connCase{
		{name: "defaults", want: bus.Config{ClientID: "saga"}},
		{name: "empty config file", args: withFile, file: "# nothing yet\n", want: bus.Config{ClientID: "saga"}},
		{name: "config file by flag", args: withFile, file: fullFile, want: fromFile},
		{name: "config file by SAGA_CONFIG", env: map[string]string{"SAGA_CONFIG": "$DIR/saga.yaml"}, file: fullFile, want: fromFile},
		{name: "--config over SAGA_CONFIG", args: withFile, env: map[string]string{"SAGA_CONFIG": "$DIR/other.yaml"},
			file: fullFile, other: "client_id: other\n", want: fromFile},
		{name: "environment over file", args: withFile, env: allEnv, file: fullFile, want: fromEnv},
		{name: "flags over environment and file", args: append(allFlags, withFile...), env: allEnv, file: fullFile, want: fromFlags},
		{name: "each setting from its own source", args: append([]string{"--sasl-user", "flag-user"}, withFile...),
			env: map[string]string{"KAFKA_SASL_PASSWORD": "env-secret", "KAFKA_BROKERS": "env-1:9092"}, file: "tls: {ca: ca.pem}\nsasl: {mechanism: PLAIN}\n",
			want: bus.Config{Brokers: []string{"env-1:9092"}, ClientID: "saga", TLS: bus.TLSConfig{CAFile: "$DIR/ca.pem"},
				SASL: bus.SASLConfig{Mechanism: "PLAIN", User: "flag-user", Password: "env-secret"}}},
		{name: "an empty flag does not hide the environment", args: []string{"--brokers", "", "--client-id", ""},
			env:  map[string]string{"KAFKA_BROKERS": "env-1:9092", "KAFKA_CLIENT_ID": "from-env"},
			want: bus.Config{Brokers: []string{"env-1:9092"}, ClientID: "from-env"}},
		{name: "tls.enabled from file", args: withFile, file: "tls: {enabled: true}\n", want: bus.Config{ClientID: "saga", TLS: bus.TLSConfig{Enabled: true}}},
		{name: "KAFKA_TLS over file", args: withFile, env: map[string]string{"KAFKA_TLS": "1"}, file: "tls: {enabled: false}\n",
			want: bus.Config{ClientID: "saga", TLS: bus.TLSConfig{Enabled: true}}},
		{name: "--tls=false over KAFKA_TLS", args: []string{"--tls=false"}, env: map[string]string{"KAFKA_TLS": "true"}, want: bus.Config{ClientID: "saga"}},
		{name: "--tls", args: []string{"--tls"}, want: bus.Config{ClientID: "saga", TLS: bus.TLSConfig{Enabled: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, dir := setupConn(t, tc)
			got, err := g.resolveConnection()
			if err != nil {
				t.Fatalf("resolveConnection: %v", err)
			}
			if want := expand(tc.want, dir); !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestConnectionErrors(t *testing.T) {
	withFile := []string{"--config", "$DIR/saga.yaml"}
	cases := []connCase{
		{name: "unknown key", args: withFile, file: "brokers: [a:1]\nbroker: b:1\n",
			errs: []string{`saga.yaml: line 2: unknown key "broker"`, "known: brokers, client_id, tls, sasl"}},
		{name: "unknown keys in sections, all at once", args: withFile, file: "tls:\n  ca: x\n  cafile: y\nsasl:\n  user: u\n  pasword: p\nextra: 1\n",
			errs: []string{`line 3: unknown key "tls.cafile"`, `line 6: unknown key "sasl.pasword"`, "known: sasl.mechanism, sasl.user, sasl.password", `line 7: unknown key "extra"`}},
		{name: "brokers not a list", args: withFile, file: "brokers: a:1,b:1\n", errs: []string{"line 1: brokers must be a list"}},
		{name: "section not a mapping", args: withFile, file: "tls: true\n", errs: []string{"line 1: tls must be a mapping with keys tls.enabled, tls.ca"}},
		{name: "not a mapping at all", args: withFile, file: "- brokers\n", errs: []string{"line 1: want a mapping"}},
		{name: "wrong value type", args: withFile, file: "client_id: [a, b]\n", errs: []string{"saga.yaml", "line 1", "cannot unmarshal"}},
		{name: "invalid YAML", args: withFile, file: "brokers: [a:1\n", errs: []string{"config file $DIR/saga.yaml", "yaml"}},
		{name: "missing config file", args: []string{"--config", "$DIR/nope.yaml"}, errs: []string{"config file", "nope.yaml", "no such file"}},
		{name: "missing file named by SAGA_CONFIG", env: map[string]string{"SAGA_CONFIG": "$DIR/nope.yaml"}, errs: []string{"nope.yaml"}},
		{name: "KAFKA_TLS not a boolean", env: map[string]string{"KAFKA_TLS": "maybe"}, errs: []string{`$KAFKA_TLS must be true or false, got "maybe"`}},
		{name: "settings bus refuses, all at once",
			args: []string{"--brokers", "nohostport", "--tls-ca", "$DIR/missing-ca.pem", "--tls-cert", "$DIR/c.pem", "--sasl-mechanism", "SCRAM-SHA-1"},
			env:  map[string]string{"KAFKA_SASL_USER": "env-user"},
			errs: []string{`"nohostport" is not host:port`, "missing-ca.pem", "without a key file", `user "env-user" has no password`, "SASL mechanism must be one of"}},
		{name: "file settings bus refuses", args: withFile, file: "sasl: {password: p}\ntls: {ca: ca.pem}\n",
			errs: []string{"password given without a user", "$DIR/ca.pem"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, dir := setupConn(t, tc)
			err := g.validate()
			if err == nil {
				t.Fatal("validate accepted it")
			}
			t.Log(oneLine(err))
			var u usageError
			if !errors.As(err, &u) {
				t.Errorf("not a usage error (exit 2): %v", err)
			}
			for _, w := range tc.errs {
				if w = strings.ReplaceAll(w, "$DIR", dir); !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

// The settings reach the commands: a bad config file stops a command
// before it runs, and a good one gives it its brokers.
func TestConnectionReachesCommands(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(bad, []byte("sasl: {usr: x}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("brokers: [file-1:9093]\nclient_id: c1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &globals{getenv: func(string) string { return "" }}
	root := newRootWith(g)
	root.SetArgs([]string{"--config", bad, "list"})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err := root.ExecuteContext(context.Background())
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), `unknown key "sasl.usr"`) {
		t.Errorf("saga --config bad.yaml list: %v", err)
	}

	g = &globals{getenv: func(string) string { return "" }}
	root = newRootWith(g)
	if err := root.PersistentFlags().Parse([]string{"--config", good, "--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if err := g.validate(); err != nil {
		t.Fatal(err)
	}
	cfg, err := g.busConfig()
	if err != nil || !reflect.DeepEqual(cfg.Brokers, []string{"file-1:9093"}) || cfg.ClientID != "c1" {
		t.Errorf("busConfig = %+v, %v", cfg, err)
	}
	if got := g.connection(); !reflect.DeepEqual(got.Brokers, cfg.Brokers) {
		t.Errorf("connection = %+v", got)
	}
}

// setupConn writes tc's files and returns globals with tc's flags parsed
// and tc's environment (nothing else of the real one).
func setupConn(t *testing.T, tc connCase) (*globals, string) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"saga.yaml": tc.file, "other.yaml": tc.other} {
		if content == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{}
	for k, v := range tc.env {
		env[k] = strings.ReplaceAll(v, "$DIR", dir)
	}
	g := &globals{getenv: func(k string) string { return env[k] }}
	root := newRootWith(g)
	args := make([]string, len(tc.args))
	for i, a := range tc.args {
		args[i] = strings.ReplaceAll(a, "$DIR", dir)
	}
	if err := root.PersistentFlags().Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return g, dir
}

func expand(c bus.Config, dir string) bus.Config {
	r := strings.NewReplacer("$DIR", dir)
	c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile = r.Replace(c.TLS.CAFile), r.Replace(c.TLS.CertFile), r.Replace(c.TLS.KeyFile)
	return c
}
