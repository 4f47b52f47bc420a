package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
)

const hotelServices = `services:
  - name: hotel
    key: booking_ref
    commands: [{name: ReserveRoom, compensation: ReleaseRoom}]
    sample: {booking_ref: BK-KIT-1}
`

func writeServices(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A declared service gets a key in the data directory's keyring, so a
// participant in another language signs with it.
func TestServicesFlagMakesTheServicesKey(t *testing.T) {
	t.Cleanup(func() { _ = events.Declare(nil) })
	t.Setenv(envKeys, "") // the data directory's own keys
	dir := t.TempDir()
	out := cliWithin(t, 30*time.Second, "keys", "list", "--data-dir", dir, "--services", writeServices(t, hotelServices), "-o", "json").wantOK(t)
	var rows []struct{ Principal string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		found = found || r.Principal == "hotel"
	}
	if !found {
		t.Errorf("the keyring has no hotel key: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, keysDirName, "hotel.key")); err != nil {
		t.Error(err)
	}
}

func TestServicesEnvironmentAndBadFile(t *testing.T) {
	t.Cleanup(func() { _ = events.Declare(nil) })
	t.Setenv(envServices, writeServices(t, "services:\n- name: booking\n  commands: []\n  colour: red\n"))
	cliWithin(t, 30*time.Second, "keys", "list", "--data-dir", t.TempDir()).wantFailure(t, exitUsage, "services file", "colour: unknown field")
}

// The embedded broker's users file made before a service was declared
// gets that service's user, and keeps every password it had.
func TestBrokerUsersAddsDeclaredServices(t *testing.T) {
	t.Cleanup(func() { _ = events.Declare(nil) })
	dir := t.TempDir()
	before, err := brokerUsers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := before["hotel"]; ok {
		t.Fatal("hotel has a user before its declaration")
	}
	if err := events.Declare([]events.ServiceDecl{{Name: "hotel", Commands: []events.CommandDecl{{Name: "ReserveRoom"}}}}); err != nil {
		t.Fatal(err)
	}
	after, err := brokerUsers(dir)
	if err != nil {
		t.Fatal(err)
	}
	if after["hotel"].User != "hotel" || after["hotel"].Password == "" {
		t.Errorf("hotel's user: %+v", after["hotel"])
	}
	for p, c := range before {
		if after[p] != c {
			t.Errorf("%s's user changed: %+v to %+v", p, c, after[p])
		}
	}
}
