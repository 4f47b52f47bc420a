package bustest

import (
	"testing"

	"github.com/sagaflow/saga/bus"
)

// StartEmbeddedAt is StartEmbedded listening on addr: a test that closes a
// broker starts it again where its clients look for it.
func StartEmbeddedAt(t testing.TB, dataDir, addr string) *bus.Embedded {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: dataDir, ListenAddr: addr})
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(emb.Close)
	return emb
}
