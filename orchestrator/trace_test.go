package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/tracing"
)

const (
	reqTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	reqSpan  = "00f067aa0ba902b7"
)

func envelope(sagaID string, typ events.Type, id string) events.Envelope {
	return events.Envelope{ID: id, Type: typ, Version: 1, SagaID: sagaID, OccurredAt: time.Now()}
}

func traceparentOf(t *testing.T, tr *traces, e events.Envelope) trace.SpanContext {
	t.Helper()
	msg := message.NewMessage(e.ID, nil)
	tr.stamp(msg, e)
	return tracing.Extract(context.Background(), msg.Metadata)
}

// TestTraceSurvivesRecovery: what a recovery folds gives every later
// record the trace the saga started in, and the saga span its parent; a
// saga whose start was before the snapshot still gets its trace id.
func TestTraceSurvivesRecovery(t *testing.T) {
	ctx := context.Background()
	const sagaID = "saga-1"
	started := map[string]string{tracing.HeaderTraceParent: "00-" + reqTrace + "-" + reqSpan + "-01"}
	cmdID := events.CommandID(sagaID, "ReserveSeats", false, 1)

	tr := newTraces(nil, nil) // tracing off: the headers flow all the same
	tr.recovered(ctx, envelope(sagaID, events.SagaStarted, "e1"), started)
	if sc := traceparentOf(t, tr, envelope(sagaID, events.SagaStarted, "e1")); sc.TraceID().String() != reqTrace || sc.SpanID().String() != reqSpan {
		t.Errorf("SagaStarted after recovery names %v, want the request's span", sc)
	}
	if sc := traceparentOf(t, tr, envelope(sagaID, events.StepStarted, "e2")); sc.TraceID().String() != reqTrace || sc.SpanID() != tracing.SagaSpanID(sagaID) {
		t.Errorf("StepStarted names %v, want the saga span in the request's trace", sc)
	}
	if sc := traceparentOf(t, tr, envelope(sagaID, "ReserveSeats", cmdID)); sc.TraceID().String() != reqTrace || sc.SpanID() != tracing.StepSpanID(cmdID) {
		t.Errorf("the command names %v, want its step attempt's span", sc)
	}
	if tr.traceID(sagaID) != reqTrace {
		t.Errorf("log trace id %q", tr.traceID(sagaID))
	}
	tr.recovered(ctx, envelope(sagaID, events.SagaFailed, "e8"), nil)
	if tr.traceID(sagaID) != reqTrace {
		t.Error("a failed saga, which may be resumed, lost its trace")
	}
	tr.recovered(ctx, envelope(sagaID, events.SagaCompleted, "e9"), nil)
	if tr.traceID(sagaID) != "" {
		t.Error("an ended saga's trace is kept")
	}

	// Only a later record folded (the start is in the snapshot).
	tr.reset()
	later := map[string]string{tracing.HeaderTraceParent: "00-" + reqTrace + "-" + tracing.SagaSpanID(sagaID).String() + "-01"}
	tr.recovered(ctx, envelope(sagaID, events.StepSucceeded, "e3"), later)
	st, ok := tr.get(sagaID)
	if !ok || st.sc.TraceID().String() != reqTrace || st.sc.SpanID().IsValid() {
		t.Errorf("recovered from a later record: %v, %v; want the trace id and no parent", st.sc, ok)
	}
	// A forged or broken header on a record is ignored.
	tr.reset()
	tr.recovered(ctx, envelope(sagaID, events.SagaStarted, "e1"), map[string]string{tracing.HeaderTraceParent: "00-zz-" + reqSpan + "-01"})
	if _, ok := tr.get(sagaID); ok {
		t.Error("a bad traceparent was taken")
	}
}

// TestDecidedExportsEndedSpans: a decision that ends a step attempt and
// the saga exports their spans, with the derived ids and the request's
// span as the saga's parent; a saga that came with no trace gets the
// derived trace when tracing is on, none when off.
func TestDecidedExportsEndedSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tracer := tracing.New(exp)
	defs := saga.Definitions{"d": {Name: "d", Steps: []saga.Step{{Name: "S", Service: "svc", Command: "DoS", Timeout: time.Second}}}}
	tr := newTraces(tracer.Part("orchestrator"), defs)
	const sagaID = "saga-2"
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cmdID := events.CommandID(sagaID, "S", false, 1)
	reqCtx := tracing.Remote(context.Background(), map[string]string{tracing.HeaderTraceParent: "00-" + reqTrace + "-" + reqSpan + "-01"})
	before := saga.State{SagaID: sagaID, Definition: "d", Seq: 2, StartedAt: start,
		Steps: []saga.StepState{{Name: "S", Status: saga.StepRunning, Attempt: 1, CommandID: cmdID, Deadline: start.Add(1500 * time.Millisecond)}}}
	after := before
	after.Status, after.Steps = saga.StatusCompleted, []saga.StepState{{Name: "S", Status: saga.StepSucceeded}}
	end := start.Add(time.Second)
	succeeded := events.MustNew("e3", events.StepSucceeded, events.StepSucceededV1{StepV1: events.StepV1{Step: "S", Attempt: 1}}, events.Trace{SagaID: sagaID}, sagaID, end)
	completed := events.MustNew("e4", events.SagaCompleted, struct{}{}, events.Trace{SagaID: sagaID}, sagaID, end)
	// Known from its start (a reply's context does not make a parent).
	tr.set(sagaID, sagaTrace{sc: tracing.Extract(context.Background(), map[string]string{tracing.HeaderTraceParent: "00-" + reqTrace + "-" + reqSpan + "-01"})})
	tr.decided(reqCtx, before, after, []events.Envelope{succeeded, completed})()
	if _, ok := tr.get(sagaID); ok {
		t.Error("the ended saga's trace is kept")
	}
	if err := tracer.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want the step's and the saga's", len(spans))
	}
	step, sg := spans[0], spans[1]
	if step.Name != "step S" || step.SpanContext.SpanID() != tracing.StepSpanID(cmdID) || step.Parent.SpanID() != tracing.SagaSpanID(sagaID) ||
		!step.StartTime.Equal(start.Add(500*time.Millisecond)) || !step.EndTime.Equal(end) {
		t.Errorf("step span %s %v parent %v %s..%s", step.Name, step.SpanContext.SpanID(), step.Parent.SpanID(), step.StartTime, step.EndTime)
	}
	if sg.Name != "saga d" || sg.SpanContext.SpanID() != tracing.SagaSpanID(sagaID) || sg.Parent.SpanID().String() != reqSpan ||
		sg.SpanContext.TraceID().String() != reqTrace || !sg.StartTime.Equal(start) {
		t.Errorf("saga span %s %v parent %v", sg.Name, sg.SpanContext, sg.Parent)
	}

	// No trace came in: the derived one when on, none when off.
	fresh := saga.State{SagaID: "saga-3", Definition: "d", Status: saga.StatusRunning}
	tr.decided(context.Background(), saga.State{}, fresh, nil)()
	if got := tr.traceID("saga-3"); got != tracing.SagaTraceID("saga-3").String() {
		t.Errorf("trace of a saga started without one: %q", got)
	}
	off := newTraces(nil, defs)
	off.decided(context.Background(), saga.State{}, fresh, nil)()
	if got := off.traceID("saga-3"); got != "" {
		t.Errorf("tracing off made up trace %q", got)
	}
}
