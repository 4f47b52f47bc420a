package tracing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/tracing"
)

const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestExtractIgnoresBadTraceparents: a traceparent is unsigned input; one
// that is not exactly W3C's is no trace context at all, never an error.
func TestExtractIgnoresBadTraceparents(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		valid        bool
	}{
		{"valid", good, true},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"future version with more fields", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"empty", "", false},
		{"garbage", "hello", false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"upper case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", false},
		{"short trace id", "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01", false},
		{"long span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b700-01", false},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"version 00 with more fields", good + "-extra", false},
		{"bad flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz", false},
		{"spaces", " " + good + " ", false},
		{"non-hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false},
		{"huge", strings.Repeat("0", 1<<16), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := tracing.Extract(context.Background(), map[string]string{tracing.HeaderTraceParent: tc.header})
			if sc.IsValid() != tc.valid {
				t.Fatalf("Extract(%q).IsValid() = %v, want %v", tc.header, sc.IsValid(), tc.valid)
			}
			if !tc.valid && tracing.TraceID(sc) != "" {
				t.Errorf("an invalid traceparent gives trace id %q", tracing.TraceID(sc))
			}
			if tc.valid && !sc.IsRemote() {
				t.Error("an extracted trace context is not remote")
			}
		})
	}
}

// TestPutRoundTrips: what Put writes, Extract reads back, tracestate too;
// an invalid context writes nothing.
func TestPutRoundTrips(t *testing.T) {
	h := map[string]string{tracing.HeaderTraceParent: good, tracing.HeaderTraceState: "vendor=v1,other=x"}
	sc := tracing.Extract(context.Background(), h)
	out := map[string]string{}
	tracing.Put(out, sc)
	if out[tracing.HeaderTraceParent] != good || out[tracing.HeaderTraceState] != "vendor=v1,other=x" {
		t.Errorf("Put wrote %v", out)
	}
	bad := map[string]string{tracing.HeaderTraceParent: good, tracing.HeaderTraceState: "not a tracestate"}
	if sc := tracing.Extract(context.Background(), bad); !sc.IsValid() || sc.TraceState().Len() != 0 {
		t.Errorf("a bad tracestate should be dropped and the traceparent kept: %v", sc)
	}
	empty := map[string]string{}
	tracing.Put(empty, trace.SpanContext{})
	tracing.Inject(context.Background(), empty)
	if len(empty) != 0 {
		t.Errorf("an invalid context wrote %v", empty)
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(good, "")
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b")
	f.Add("zz", "=,=")
	f.Fuzz(func(t *testing.T, parent, state string) {
		sc := tracing.Extract(context.Background(), map[string]string{tracing.HeaderTraceParent: parent, tracing.HeaderTraceState: state})
		if !sc.IsValid() {
			return
		}
		// A context that parsed writes a traceparent that parses to it.
		out := map[string]string{}
		tracing.Put(out, sc)
		back := tracing.Extract(context.Background(), out)
		if back.TraceID() != sc.TraceID() || back.SpanID() != sc.SpanID() || back.TraceFlags() != sc.TraceFlags() {
			t.Fatalf("%q -> %v -> %q -> %v", parent, sc, out[tracing.HeaderTraceParent], back)
		}
	})
}

// TestExportKeepsChosenIDs: a span exported after the fact has the id
// and parent its records named, and the times of the log.
func TestExportKeepsChosenIDs(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.New(exp)
	part := tr.Part("orchestrator")
	parent := tracing.Extract(context.Background(), map[string]string{tracing.HeaderTraceParent: good})
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := tracing.SagaSpanID("saga-1")
	part.Export(tracing.Ended{Trace: parent, Parent: parent.SpanID(), ID: id, Name: "saga x", Start: start, End: start.Add(time.Second)})
	root := tracing.SagaTraceID("saga-2")
	part.Export(tracing.Ended{Trace: trace.NewSpanContext(trace.SpanContextConfig{TraceID: root, TraceFlags: trace.FlagsSampled}),
		ID: tracing.SagaSpanID("saga-2"), Name: "saga y", Start: start, End: start})
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans))
	}
	s := spans[0]
	if s.SpanContext.SpanID() != id || s.Parent.SpanID() != parent.SpanID() || s.SpanContext.TraceID() != parent.TraceID() ||
		!s.StartTime.Equal(start) || !s.EndTime.Equal(start.Add(time.Second)) {
		t.Errorf("exported %v (parent %v) %s..%s", s.SpanContext, s.Parent, s.StartTime, s.EndTime)
	}
	if r := spans[1]; r.SpanContext.TraceID() != root || r.SpanContext.SpanID() != tracing.SagaSpanID("saga-2") || r.Parent.IsValid() {
		t.Errorf("root span exported as %v with parent %v", r.SpanContext, r.Parent)
	}
	// Spans started the ordinary way get fresh random ids.
	_, a := part.Start(context.Background(), "a")
	_, b := part.Start(context.Background(), "b")
	if a.SpanContext().SpanID() == b.SpanContext().SpanID() || a.SpanContext().TraceID() == b.SpanContext().TraceID() {
		t.Error("two root spans share ids")
	}
	var off *tracing.Tracer
	off.Part("x").Export(tracing.Ended{Trace: parent, ID: id}) // tracing off: nothing, no panic
	if err := off.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestDerivedIDsDiffer(t *testing.T) {
	if tracing.SagaSpanID("a") == tracing.SagaSpanID("b") || tracing.SagaSpanID("a") != tracing.SagaSpanID(string([]byte("a"))) ||
		tracing.StepSpanID("a") == tracing.SagaSpanID("a") || !tracing.SagaTraceID("a").IsValid() {
		t.Error("derived ids are not distinct and stable")
	}
}

// TestNothingAllocatedWithoutATrace: a record without trace context costs
// no allocation to read or to write, which is every record when tracing
// is off and no request came with a traceparent.
func TestNothingAllocatedWithoutATrace(t *testing.T) {
	h := map[string]string{"type": "StepStarted"}
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		tracing.Put(h, tracing.Extract(ctx, h))
		_ = tracing.Remote(ctx, h)
	}); n != 0 {
		t.Errorf("%v allocations for a record without trace context", n)
	}
	var off *tracing.Tracer
	if off.Part("orchestrator") != nil {
		t.Error("tracing off made a part tracer")
	}
}
