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
// principal, making them (with random passwords) on first use.
func brokerUsers(dataDir string) (map[string]bus.SASLConfig, error) {
	path := filepath.Join(dataDir, brokerUsersFile)
	creds, err := loadCredentials(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return creds, err
	}
	file := map[string]partCredential{}
	creds = map[string]bus.SASLConfig{}
	for _, p := range events.Principals() {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		pw := base64.RawURLEncoding.EncodeToString(b[:])
		file[p] = partCredential{User: p, Password: pw}
		creds[p] = bus.SASLConfig{User: p, Password: pw}
	}
	raw, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("embedded broker users: %w", err)
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
