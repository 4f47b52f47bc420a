package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// The embedded broker asks for a SCRAM user of each part: brokerUsersFile
// in the data directory holds them (in the format of --sasl-credentials),
// and brokerAuthFile is there while the broker runs with them, so that
// the other commands on the data directory know to log in.
const (
	brokerUsersFile = "broker-users.json"
	brokerAuthFile  = "broker.auth"
)

// brokerUsers returns the embedded broker's users of dataDir, by
// principal, making each principal's (with a random password) on first
// use: a service declared later gets its user on the next start. A user
// of a service no longer declared stays, so declaring it again finds the
// same password.
func brokerUsers(dataDir string) (map[string]bus.SASLConfig, error) {
	path := filepath.Join(dataDir, brokerUsersFile)
	file := map[string]partCredential{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("embedded broker users %s is open to group or others (mode %04o); it holds passwords: chmod 600 %s", path, st.Mode().Perm(), path)
		}
		if err := json.Unmarshal(raw, &file); err != nil {
			return nil, fmt.Errorf("embedded broker users %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("embedded broker users: %w", err)
	}
	changed := false
	for _, p := range events.Principals() {
		if c, ok := file[p]; ok && c.User != "" && c.Password != "" {
			continue
		}
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		file[p] = partCredential{User: p, Password: base64.RawURLEncoding.EncodeToString(b[:])}
		changed = true
	}
	if changed {
		raw, err := json.MarshalIndent(file, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
			return nil, fmt.Errorf("embedded broker users: %w", err)
		}
	}
	creds := make(map[string]bus.SASLConfig, len(file))
	for p, c := range file {
		creds[p] = bus.SASLConfig{User: c.User, Password: c.Password}
	}
	return creds, nil
}

// embeddedLogin is the SASL login of a command on the data directory's
// embedded broker: the operator's, when the broker asks for one.
func embeddedLogin(dataDir string) (bus.SASLConfig, bool, error) {
	if _, err := os.Stat(filepath.Join(dataDir, brokerAuthFile)); errors.Is(err, fs.ErrNotExist) {
		return bus.SASLConfig{}, false, nil
	}
	users, err := brokerUsers(dataDir)
	if err != nil {
		return bus.SASLConfig{}, false, err
	}
	c, err := operatorLogin(dataDir, users)
	return c, err == nil, err
}

// operatorLogin is the operator's login among the embedded broker's users.
func operatorLogin(dataDir string, users map[string]bus.SASLConfig) (bus.SASLConfig, error) {
	c, ok := users[events.PrincipalOperator]
	if !ok {
		return bus.SASLConfig{}, fmt.Errorf("%s has no %s user", filepath.Join(dataDir, brokerUsersFile), events.PrincipalOperator)
	}
	c.Mechanism = bus.MechanismSCRAMSHA512
	return c, nil
}

// embeddedUsers are the users the broker is started with: user to password.
func embeddedUsers(creds map[string]bus.SASLConfig) map[string]string {
	out := map[string]string{}
	for _, c := range creds {
		out[c.User] = c.Password
	}
	return out
}

// isEmbedded reports whether brokers are the data directory's broker.
func isEmbedded(dataDir string, brokers []string) bool {
	raw, err := os.ReadFile(filepath.Join(dataDir, addrFile))
	if err != nil {
		return false
	}
	addrs := strings.Split(strings.TrimSpace(string(raw)), ",")
	return slices.Equal(addrs, brokers)
}
