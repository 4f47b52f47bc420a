package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sagaflow/saga/bus"
)

// Environment variables of the connection settings. Each setting is taken
// from the first source that gives it: flag, environment, config file,
// default.
const (
	envConfig        = "SAGA_CONFIG"
	envBrokers       = "KAFKA_BROKERS"
	envClientID      = "KAFKA_CLIENT_ID"
	envKafkaRetry    = "SAGA_KAFKA_RETRY"
	envTLS           = "KAFKA_TLS"
	envTLSCA         = "KAFKA_TLS_CA"
	envTLSCert       = "KAFKA_TLS_CERT"
	envTLSKey        = "KAFKA_TLS_KEY"
	envSASLMechanism = "KAFKA_SASL_MECHANISM"
	envSASLUser      = "KAFKA_SASL_USER"
	envSASLPassword  = "KAFKA_SASL_PASSWORD"
)

// fileConfig is the config file (--config or $SAGA_CONFIG), e.g.
//
//	brokers: [kafka-1:9093, kafka-2:9093]
//	client_id: saga-prod
//	tls: {ca: ca.pem, cert: client.pem, key: client-key.pem}
//	sasl: {mechanism: SCRAM-SHA-512, user: saga, password: secret}
//
// Relative file names are relative to the config file's directory.
type fileConfig struct {
	Brokers  []string `yaml:"brokers"`
	ClientID string   `yaml:"client_id"`
	TLS      struct {
		Enabled *bool  `yaml:"enabled"`
		CA      string `yaml:"ca"`
		Cert    string `yaml:"cert"`
		Key     string `yaml:"key"`
	} `yaml:"tls"`
	SASL struct {
		Mechanism string `yaml:"mechanism"`
		User      string `yaml:"user"`
		Password  string `yaml:"password"`
	} `yaml:"sasl"`
}

// fileKeys are the keys fileConfig knows, by section ("" is the top).
var fileKeys = map[string][]string{
	"":     {"brokers", "client_id", "tls", "sasl"},
	"tls":  {"enabled", "ca", "cert", "key"},
	"sasl": {"mechanism", "user", "password"},
}

// resolveConnection combines flags, environment and config file into the
// connection settings; it reports problems with the sources (an unknown
// key, an unreadable file), not with the settings themselves.
func (g *globals) resolveConnection() (bus.Config, error) {
	var fc fileConfig
	if path := first(g.flag("config", g.configFile), g.env(envConfig)); path != "" {
		var err error
		if fc, err = loadConfigFile(path); err != nil {
			return bus.Config{}, err
		}
	}
	cfg := bus.Config{
		Brokers:  splitList(first(g.flag("brokers", g.brokers), g.env(envBrokers))),
		ClientID: first(g.flag("client-id", g.clientID), g.env(envClientID), fc.ClientID, bus.DefaultClientID),
		TLS: bus.TLSConfig{
			CAFile:   first(g.flag("tls-ca", g.tlsCA), g.env(envTLSCA), fc.TLS.CA),
			CertFile: first(g.flag("tls-cert", g.tlsCert), g.env(envTLSCert), fc.TLS.Cert),
			KeyFile:  first(g.flag("tls-key", g.tlsKey), g.env(envTLSKey), fc.TLS.Key),
		},
		SASL: bus.SASLConfig{
			Mechanism: first(g.flag("sasl-mechanism", g.saslMechanism), g.env(envSASLMechanism), fc.SASL.Mechanism),
			User:      first(g.flag("sasl-user", g.saslUser), g.env(envSASLUser), fc.SASL.User),
			Password:  first(g.flag("sasl-password", g.saslPassword), g.env(envSASLPassword), fc.SASL.Password),
		},
	}
	if len(cfg.Brokers) == 0 {
		cfg.Brokers = fc.Brokers
	}
	var tlsErr, credErr, retryErr error
	cfg.TLS.Enabled, tlsErr = g.tlsEnabled(fc)
	g.creds, credErr = loadCredentials(first(g.flag("sasl-credentials", g.saslCredentials), g.env(envSASLCredentials)))
	cfg.Retry, retryErr = kafkaRetry(first(g.flag("kafka-retry", g.kafkaRetry), g.env(envKafkaRetry)))
	return cfg, errors.Join(tlsErr, credErr, retryErr)
}

// kafkaRetry is bus.Config.Retry of a --kafka-retry: empty for the
// default, 0 for none.
func kafkaRetry(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--kafka-retry must be a duration such as 30s, got %q", v)
	}
	if d == 0 {
		return -1, nil
	}
	return d, nil
}

// tlsEnabled is --tls, else $KAFKA_TLS, else tls.enabled of the file. A
// CA or client certificate turns TLS on whatever this says.
func (g *globals) tlsEnabled(fc fileConfig) (bool, error) {
	if g.flags != nil && g.flags.Changed("tls") {
		return g.tls, nil
	}
	if v := g.env(envTLS); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("$%s must be true or false, got %q", envTLS, v)
		}
		return on, nil
	}
	return fc.TLS.Enabled != nil && *fc.TLS.Enabled, nil
}

// checkConnection reports what bus would reject (unreadable certificate
// files, a user without a password, a broker that is not host:port), so
// that it is a usage error before anything runs.
func checkConnection(c bus.Config) error {
	errs := []error{c.TLS.Validate(), c.SASL.Validate()}
	if len(c.Brokers) > 0 {
		errs = append(errs, bus.Config{Brokers: c.Brokers}.Validate())
	}
	return errors.Join(errs...)
}

// flag is a flag's value if it was given on the command line, else "":
// a default must not hide the environment or the config file.
func (g *globals) flag(name, value string) string {
	if g.flags == nil || g.flags.Changed(name) {
		return value
	}
	return ""
}

func (g *globals) env(name string) string {
	if g.getenv != nil {
		return g.getenv(name)
	}
	return os.Getenv(name)
}

// loadConfigFile reads the config file, refusing keys it does not know
// (a misspelt "pasword" must not silently mean "no password").
func loadConfigFile(path string) (fileConfig, error) {
	var fc fileConfig
	raw, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fc, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return fc, nil // empty: no settings
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fc, fmt.Errorf("config file %s: line %d: want a mapping with keys %s", path, top.Line, known(""))
	}
	if err := errors.Join(checkKeys(path, top, "")...); err != nil {
		return fc, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) { // one line per value, without yaml's heading
			return fc, fmt.Errorf("config file %s: %s", path, strings.Join(te.Errors, "; "))
		}
		return fc, fmt.Errorf("config file %s: %w", path, err)
	}
	fc.Brokers = splitList(strings.Join(fc.Brokers, ","))
	dir := filepath.Dir(path)
	for _, p := range []*string{&fc.TLS.CA, &fc.TLS.Cert, &fc.TLS.Key} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	return fc, nil
}

// checkKeys names every unknown key of a mapping and of its sections.
func checkKeys(path string, m *yaml.Node, section string) []error {
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		name := k.Value
		if section != "" {
			name = section + "." + k.Value
		}
		if !slices.Contains(fileKeys[section], k.Value) {
			errs = append(errs, fmt.Errorf("config file %s: line %d: unknown key %q (known: %s)", path, k.Line, name, known(section)))
			continue
		}
		switch {
		case isNull(v):
		case section == "" && k.Value == "brokers" && v.Kind != yaml.SequenceNode:
			errs = append(errs, fmt.Errorf("config file %s: line %d: brokers must be a list, e.g. [\"kafka-1:9092\", \"kafka-2:9092\"]", path, v.Line))
		case section == "" && fileKeys[k.Value] != nil:
			if v.Kind != yaml.MappingNode {
				errs = append(errs, fmt.Errorf("config file %s: line %d: %s must be a mapping with keys %s", path, v.Line, name, known(k.Value)))
				continue
			}
			errs = append(errs, checkKeys(path, v, k.Value)...)
		}
	}
	return errs
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// known lists a section's keys as they are written in errors.
func known(section string) string {
	keys := slices.Clone(fileKeys[section])
	if section != "" {
		for i, k := range keys {
			keys[i] = section + "." + k
		}
	}
	return strings.Join(keys, ", ")
}

// first is the first non-empty value.
func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
