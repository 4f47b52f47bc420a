package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
)

func writeCredentials(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credentials.json")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

func TestLoadCredentials(t *testing.T) {
	for _, c := range []struct {
		name, content string
		mode          os.FileMode
		err           string
	}{
		{"good", `{"payment": {"user": "svc-payment", "password": "p"}, "client": {"user": "api", "password": "c"}}`, 0o600, ""},
		{"readable by group", `{}`, 0o640, "open to group or others (mode 0640)"},
		{"readable by all", `{}`, 0o644, "chmod 600"},
		{"unknown principal", `{"paymnt": {"user": "x", "password": "y"}}`, 0o600, `unknown principal "paymnt"`},
		{"no password", `{"payment": {"user": "x"}}`, 0o600, "payment needs both a user and a password"},
		{"unknown key", `{"payment": {"user": "x", "pasword": "y"}}`, 0o600, `unknown field "pasword"`},
		{"not JSON", `payment: x`, 0o600, "want {"},
	} {
		t.Run(c.name, func(t *testing.T) {
			creds, err := loadCredentials(writeCredentials(t, c.content, c.mode))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("error %v, want it to mention %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]bus.SASLConfig{"payment": {User: "svc-payment", Password: "p"}, "client": {User: "api", Password: "c"}}
			if len(creds) != len(want) || creds["payment"] != want["payment"] || creds["client"] != want["client"] {
				t.Errorf("got %+v, want %+v", creds, want)
			}
		})
	}
}

// The flag reaches each part's connection: a part named in the file is
// its own user, the others keep the shared one.
func TestPartBus(t *testing.T) {
	path := writeCredentials(t, `{"payment": {"user": "svc-payment", "password": "p"}, "client": {"user": "api", "password": "c"}}`, 0o600)
	g := &globals{getenv: func(string) string { return "" }}
	root := newRootWith(g)
	if err := root.PersistentFlags().Parse([]string{"--brokers", "k:9092", "--sasl-user", "admin", "--sasl-password", "a", "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-credentials", path}); err != nil {
		t.Fatal(err)
	}
	if err := g.validate(); err != nil {
		t.Fatal(err)
	}
	shared := g.connection()
	for part, want := range map[string]bus.SASLConfig{
		"payment":      {Mechanism: "SCRAM-SHA-256", User: "svc-payment", Password: "p"},
		"api":          {Mechanism: "SCRAM-SHA-256", User: "api", Password: "c"},
		"projections":  {Mechanism: "SCRAM-SHA-256", User: "api", Password: "c"},
		"orchestrator": {Mechanism: "SCRAM-SHA-256", User: "admin", Password: "a"},
	} {
		if got := g.partBus(part, shared).SASL; got != want {
			t.Errorf("%s runs as %+v, want %+v", part, got, want)
		}
	}
	if shared.SASL.User != "admin" {
		t.Errorf("the shared connection became %q", shared.SASL.User)
	}
}

func TestUpRefusesReadableCredentials(t *testing.T) {
	path := writeCredentials(t, `{"payment": {"user": "payment", "password": "p"}}`, 0o644)
	r := cliWithin(t, 10*time.Second, "--brokers", "127.0.0.1:1", "--sasl-credentials", path, "up")
	r.wantFailure(t, exitUsage, path, "open to group or others", "chmod 600")
}
