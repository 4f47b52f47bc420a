package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
)

func TestWaitReadyFailsFastWhenNoBrokerAnswers(t *testing.T) {
	t.Parallel()
	cfg := bus.Config{Brokers: []string{"127.0.0.1:1"}}
	// Generous: the point is the error, which must come from WaitReady's
	// own DialTimeout window (5s), not from this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := bus.WaitReady(ctx, cfg)
	if err == nil {
		t.Fatal("WaitReady succeeded against 127.0.0.1:1")
	}
	if ctx.Err() != nil {
		t.Fatalf("WaitReady only gave up when the test's context ended: %v", err)
	}
	for _, want := range []string{"unreachable", "127.0.0.1:1", "refused"} {
		if !contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}

func TestClientsReportUnreachableCluster(t *testing.T) {
	t.Parallel()
	cfg := bus.Config{Brokers: []string{"127.0.0.1:1"}}
	errs := map[string]error{
		"provision": bus.Provision(t.Context(), cfg, []bus.TopicSpec{{Name: "x"}}),
		"readall":   bus.ReadAll(t.Context(), cfg, "x", func(bus.Record) error { return nil }),
	}
	_, errs["publisher"] = bus.NewPublisher(cfg, nil)
	for name, err := range errs {
		if err == nil || !contains(err.Error(), "unreachable") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWaitReadySucceedsOnALiveCluster(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	if err := bus.WaitReady(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
}
