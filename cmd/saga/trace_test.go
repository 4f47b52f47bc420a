package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/system"
	"github.com/sagaflow/saga/tracing"
	"github.com/sagaflow/saga/tracing/tracingtest"
)

// TestBookIsTheRootOfTheTrace: with an OTLP endpoint set, `saga book`
// makes the span the booking's trace starts with, and the saga span of
// the (signed) system is its child.
func TestBookIsTheRootOfTheTrace(t *testing.T) {
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Skipf("KAFKA_BROKERS=%s is set: this test needs a broker of its own", env)
	}
	rcv := tracingtest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", rcv.URL+"/v1/traces")
	tr, err := tracing.FromEnv(context.Background())
	if err != nil || tr == nil {
		t.Fatalf("tracer: %v %v", tr, err)
	}
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() {
		done <- system.Run(runCtx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log, Tracer: tr})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
		_ = tr.Shutdown(context.Background())
	})

	rec := decodeJSON[receipt](t, cliWithin(t, 60*time.Second, "--brokers", strings.Join(emb.Addrs(), ","), "book", "--user", "alice", "--show", "show-1",
		"--seats", "1", "--payment-token", "tok_ok", "--idempotency-key", "cli-trace-1", "--wait", "30s", "-o", "json"))
	if rec.Status != "completed" {
		t.Fatalf("booking %+v, want completed", rec)
	}
	sagaSpan := tracing.SagaSpanID(rec.SagaID).String()
	var root, book tracingtest.Span
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		_ = tr.Flush(context.Background())
		for _, s := range rcv.Spans() {
			switch {
			case s.SpanID == sagaSpan:
				root = s
			case s.Name == "saga book":
				book = s
			}
		}
		return root.SpanID != "" && book.SpanID != "", "saga span or saga book span missing"
	})
	if book.Service != "saga-cli" || book.ParentID != "" || root.ParentID != book.SpanID || root.TraceID != book.TraceID {
		t.Errorf("saga span %+v should be the child of the CLI's span %+v, in its trace", root, book)
	}
}
