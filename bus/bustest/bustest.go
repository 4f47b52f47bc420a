// Package bustest gives tests a Kafka to talk to: the cluster named by
// KAFKA_BROKERS when set, otherwise a fresh embedded broker. Either way the
// returned Config carries a namespace unique to the test, so tests never
// see each other's topics or groups.
package bustest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
)

// EnvBrokers names the environment variable that points tests at a real
// cluster ("host:port,host:port").
const EnvBrokers = "KAFKA_BROKERS"

// Start returns a Config for a reachable cluster with a namespace unique to
// this test; an embedded broker it started is closed by t.Cleanup.
func Start(t testing.TB) bus.Config {
	t.Helper()
	cfg := bus.Config{Namespace: Namespace()}
	if env := os.Getenv(EnvBrokers); env != "" {
		cfg.Brokers = splitBrokers(env)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := bus.WaitReady(ctx, cfg); err != nil {
			t.Fatalf("bustest: %s=%s: %v", EnvBrokers, env, err)
		}
		t.Logf("bustest: using Kafka at %v (namespace %s)", cfg.Brokers, cfg.Namespace)
		return cfg
	}
	emb := StartEmbedded(t, t.TempDir())
	cfg.Brokers = emb.Addrs()
	t.Logf("bustest: using embedded broker at %v (namespace %s)", cfg.Brokers, cfg.Namespace)
	return cfg
}

// StartEmbedded starts an embedded broker on dataDir, closed by t.Cleanup
// (closing twice is fine, so tests may Close early to restart it).
func StartEmbedded(t testing.TB, dataDir string) *bus.Embedded {
	t.Helper()
	emb, err := bus.StartEmbedded(bus.EmbeddedOptions{DataDir: dataDir})
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(emb.Close)
	return emb
}

// Namespace returns a fresh namespace: "t" and 8 hex digits.
func Namespace() string {
	return "t" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}
