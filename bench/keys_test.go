package bench

import (
	"testing"

	"github.com/sagaflow/saga/bus"
)

// signed is cfg signing as the harness does in a run.
func signed(t testing.TB, cfg bus.Config) bus.Config {
	t.Helper()
	cfg, err := Signed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
