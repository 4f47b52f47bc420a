package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/system"
)

// `saga book --wait` goes on through a restart of the broker: the wait
// reconnects, follows the saga log from where it was, and prints the end.
func TestBookWaitAcrossABrokerRestart(t *testing.T) {
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Skipf("KAFKA_BROKERS=%s is set: this test restarts a broker of its own", env)
	}
	dir := t.TempDir()
	emb := bustest.StartEmbedded(t, dir)
	addr := emb.Addrs()[0]
	cfg := bus.Config{Brokers: emb.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// No part runs yet: the saga waits for the orchestrator, and the CLI
	// for the saga.
	booked := make(chan result, 1)
	go func() {
		booked <- cliWithin(t, 2*time.Minute, "--brokers", addr, "book", "--user", "alice", "--show", "show-1",
			"--seats", "1", "--payment-token", "tok_ok", "--wait", "90s", "-o", "json")
	}()
	time.Sleep(3 * time.Second) // posted, and following the saga log
	emb.Close()
	time.Sleep(2 * time.Second) // the follow meets the broker gone
	bustest.StartEmbeddedAt(t, dir, addr)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() { done <- system.Run(runCtx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	}()
	r := <-booked
	if got := decodeJSON[receipt](t, r); got.Status != "completed" {
		t.Fatalf("saga book --wait across a broker restart printed %+v (stderr %q)", got, r.stderr)
	}
}
