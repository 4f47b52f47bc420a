package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// envSASLCredentials names the environment variable of --sasl-credentials.
const envSASLCredentials = "KAFKA_SASL_CREDENTIALS"

// partCredential is one entry of the credentials file.
type partCredential struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// loadCredentials reads the --sasl-credentials file: principal name to
// SASL user and password, e.g.
//
//	{"orchestrator": {"user": "orchestrator", "password": "..."},
//	 "payment": {"user": "svc-payment", "password": "..."}}
//
// It holds passwords, so a file other users may open is refused rather
// than read: the secret may already have leaked and no one should think
// otherwise.
func loadCredentials(path string) (map[string]bus.SASLConfig, error) {
	if path == "" {
		return nil, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("SASL credentials file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("SASL credentials file %s is open to group or others (mode %04o); it holds passwords: chmod 600 %s", path, perm, path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("SASL credentials file: %w", err)
	}
	var file map[string]partCredential
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("SASL credentials file %s: %w (want {\"payment\": {\"user\": \"payment\", \"password\": \"...\"}, ...})", path, err)
	}
	var errs []error
	creds := make(map[string]bus.SASLConfig, len(file))
	for _, p := range slices.Sorted(maps.Keys(file)) {
		c := file[p]
		switch {
		case !slices.Contains(events.Principals(), p):
			errs = append(errs, fmt.Errorf("SASL credentials file %s: unknown principal %q (known: %s)", path, p, strings.Join(events.Principals(), ", ")))
		case c.User == "" || c.Password == "":
			errs = append(errs, fmt.Errorf("SASL credentials file %s: %s needs both a user and a password", path, p))
		}
		creds[p] = bus.SASLConfig{User: c.User, Password: c.Password}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return creds, nil
}

// partPrincipal is the principal a part of `saga up` runs as: its own,
// except the read models and the HTTP API, which read and post what a
// client does.
func partPrincipal(part string) string {
	switch part {
	case "projections", "api":
		return events.PrincipalClient
	}
	return part
}

// partBus is the connection a part runs with: cfg, as that part's SASL
// user when the credentials file names its principal. The mechanism,
// TLS and brokers stay those of cfg.
func (g *globals) partBus(part string, cfg bus.Config) bus.Config {
	c, ok := g.creds[partPrincipal(part)]
	if !ok {
		return cfg
	}
	cfg.SASL.User, cfg.SASL.Password = c.User, c.Password
	return cfg
}
