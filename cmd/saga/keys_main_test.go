package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// The commands the tests run, and the systems they start in-process, sign
// with one key directory of the test binary's own (SAGA_KEYS), so that no
// test writes keys into the source tree.
var (
	testKeys map[string]*sign.Key
	testRing *sign.Keyring
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "saga-cmd-keys-")
	if err == nil {
		testKeys, testRing, err = sign.EnsureDir(dir, events.Principals(), time.Now())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "test keys:", err)
		os.Exit(1)
	}
	os.Setenv(envKeys, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// trusted is cfg trusting the test keys and signing as principal ("" for a
// system, whose parts sign with testKeys).
func trusted(cfg bus.Config, principal string) bus.Config {
	cfg.Trust, cfg.Signer = testRing, testKeys[principal]
	return cfg
}
