package bench

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// The processes a harness starts sign with keys it makes once, in a
// directory of its own, and shares with them (SAGA_KEYS): the harness
// posts as the client and writes history as the orchestrator would.
var harness struct {
	once sync.Once
	dir  string
	keys map[string]*sign.Key
	ring *sign.Keyring
	err  error
}

func harnessKeys() (string, map[string]*sign.Key, *sign.Keyring, error) {
	harness.once.Do(func() {
		dir, err := os.MkdirTemp("", "saga-bench-keys-")
		if err != nil {
			harness.err = fmt.Errorf("bench: key directory: %w", err)
			return
		}
		harness.dir = dir
		harness.keys, harness.ring, harness.err = sign.EnsureDir(dir, events.Principals(), time.Now())
	})
	return harness.dir, harness.keys, harness.ring, harness.err
}

// Signed is cfg signing as the client, with the harness's keys, which the
// processes it starts then share: a run measures the system as it is
// deployed. Without it (cfg with no keyring) every process runs with
// signatures off, which only a measurement of their cost should do.
func Signed(cfg bus.Config) (bus.Config, error) {
	_, keys, ring, err := harnessKeys()
	if err != nil {
		return cfg, err
	}
	cfg.Trust, cfg.Signer = ring, keys[events.PrincipalClient]
	return cfg, nil
}

// as is cfg signing as principal, when cfg is signed.
func as(cfg bus.Config, principal string) bus.Config {
	if cfg.Trust == nil {
		return cfg
	}
	_, keys, _, _ := harnessKeys()
	cfg.Signer = keys[principal]
	return cfg
}

// procEnv is the environment of a process the harness starts on cfg.
func procEnv(cfg bus.Config) []string {
	env := []string{"SAGA_NAMESPACE=" + cfg.Namespace}
	if cfg.Trust == nil {
		return append(env, "SAGA_SIGNATURES=off")
	}
	dir, _, _, _ := harnessKeys()
	return append(env, "SAGA_KEYS="+dir)
}
