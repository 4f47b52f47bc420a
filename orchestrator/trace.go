package orchestrator

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/tracing"
)

// traces knows the trace of each running saga this orchestrator owns and
// writes it on every record of the saga: the saga span (its id derived
// from the saga id) is the parent of the saga log records, and a step
// attempt's span (its id derived from the command id) the parent of the
// command, and so of the participant's span.
//
// Only the trace id, flags and the saga span's parent are kept, and they
// are in the log: the SagaStarted record's traceparent names the request's
// span, every other record of the saga names the saga's trace. Recovery
// learns them again from the records it folds, and a reply carries them
// too; a saga met with none of these (its whole log before a snapshot,
// and no reply since) goes on in the trace tracing.SagaTraceID derives
// from its id, which is also the trace of a saga whose request came
// without a traceparent while tracing is on.
//
// With tracing off (part nil) no span is made, but the trace of a saga
// whose request carried one is written on its records all the same.
type traces struct {
	part *tracing.Part
	defs saga.Definitions

	mu sync.Mutex
	m  map[string]sagaTrace
}

// sagaTrace is a saga's trace: sc has the trace id, flags and state, and
// as span id the parent of the saga span (invalid when unknown).
type sagaTrace struct{ sc trace.SpanContext }

func newTraces(part *tracing.Part, defs saga.Definitions) *traces {
	return &traces{part: part, defs: defs, m: map[string]sagaTrace{}}
}

func (t *traces) reset() {
	t.mu.Lock()
	t.m = map[string]sagaTrace{}
	t.mu.Unlock()
}

func (t *traces) get(sagaID string) (sagaTrace, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.m[sagaID]
	return st, ok
}

func (t *traces) set(sagaID string, st sagaTrace) {
	t.mu.Lock()
	t.m[sagaID] = st
	t.mu.Unlock()
}

func (t *traces) forget(sagaID string) {
	t.mu.Lock()
	delete(t.m, sagaID)
	t.mu.Unlock()
}

// traceID is the saga's trace id as log lines name it, "" when none.
func (t *traces) traceID(sagaID string) string {
	st, ok := t.get(sagaID)
	if !ok {
		return ""
	}
	return st.sc.TraceID().String()
}

// recovered learns a saga's trace from a record of its log folded by a
// recovery; the end of a saga forgets it (see ends).
func (t *traces) recovered(ctx context.Context, e events.Envelope, headers map[string]string) {
	switch e.Type {
	case events.SagaCompleted, events.SagaCompensated:
		t.forget(e.SagaID)
		return
	}
	sc := tracing.Extract(ctx, headers)
	if !sc.IsValid() {
		return
	}
	if e.Type != events.SagaStarted {
		if _, ok := t.get(e.SagaID); ok {
			return
		}
		sc = tracing.Child(sc, trace.SpanID{})
	}
	t.set(e.SagaID, sagaTrace{sc: sc})
}

// decided learns the trace of the saga a decision is about (from the
// input's headers in ctx, see tracing.Remote, when it is not known yet),
// and exports the spans the decision ended. before is the saga before the
// decision, after after it. It returns a function that forgets the trace
// of a saga that ended, to run once the decision's records are written.
func (t *traces) decided(ctx context.Context, before, after saga.State, evs []events.Envelope) func() {
	st, ok := t.get(after.SagaID)
	if !ok {
		sc := trace.SpanContextFromContext(ctx)
		switch {
		case sc.IsValid() && !before.Started():
			// The start: the request's span is the saga span's parent.
		case sc.IsValid():
			sc = tracing.Child(sc, trace.SpanID{})
		case t.part != nil:
			id := tracing.SagaTraceID(after.SagaID)
			var flags trace.TraceFlags
			if t.part.SampledRoot(id) {
				flags = trace.FlagsSampled
			}
			sc = trace.NewSpanContext(trace.SpanContextConfig{TraceID: id, TraceFlags: flags})
		default:
			return func() {}
		}
		st = sagaTrace{sc: sc}
		t.set(after.SagaID, st)
	}
	if t.part != nil {
		for _, e := range evs {
			t.export(st, before, after, e)
		}
	}
	if ends(after.Status) {
		return func() { t.forget(after.SagaID) }
	}
	return func() {}
}

// ends reports whether a saga of status s is done with its trace. A
// failed saga is not: an operator may resume it, and the steps it then
// runs belong to the same trace (its saga span is exported again when it
// ends again, with the same id).
func ends(s saga.Status) bool { return s == saga.StatusCompleted || s == saga.StatusCompensated }

// stamp writes the trace of msg's saga on it: a command names its step
// attempt's span, SagaStarted the request's span, every other saga log
// record the saga span.
func (t *traces) stamp(msg *message.Message, e events.Envelope) {
	st, ok := t.get(e.SagaID)
	if !ok {
		return
	}
	id := tracing.SagaSpanID(e.SagaID)
	switch {
	case e.Type == events.SagaStarted && st.sc.SpanID().IsValid():
		id = st.sc.SpanID()
	case !sagaLogType(e.Type):
		id = tracing.StepSpanID(e.ID)
	}
	tracing.Put(msg.Metadata, tracing.Child(st.sc, id))
}

func sagaLogType(typ events.Type) bool {
	switch typ {
	case events.SagaStarted, events.StepStarted, events.StepSucceeded, events.StepFailed, events.StepTimedOut,
		events.CompensationStarted, events.StepCompensated, events.CompensationFailed,
		events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
		return true
	}
	return false
}

// export exports the span e ends, if it ends one: a step attempt, a
// compensation attempt, or the saga. Its start is in the log: the saga's
// start, or the attempt's deadline less its timeout. Attributes name the
// saga, the step and the outcome, never the saga's data (which holds the
// payment token).
func (t *traces) export(st sagaTrace, before, after saga.State, e events.Envelope) {
	base := []attribute.KeyValue{attribute.String("saga.id", after.SagaID), attribute.String("saga.definition", after.Definition),
		attribute.String("saga.booking_ref", after.BookingRef)}
	switch e.Type {
	case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
		span := tracing.Ended{Trace: st.sc, Parent: st.sc.SpanID(), ID: tracing.SagaSpanID(after.SagaID), Name: "saga " + after.Definition,
			Kind: trace.SpanKindInternal, Start: after.StartedAt, End: e.OccurredAt,
			Attrs: append(base, attribute.String("saga.status", string(after.Status)))}
		if after.Status != saga.StatusCompleted {
			span.Err = after.Reason
		}
		t.part.Export(span)
		return
	case events.StepSucceeded, events.StepFailed, events.StepTimedOut, events.StepCompensated, events.CompensationFailed:
	default:
		return
	}
	var p events.StepFailedV1
	if json.Unmarshal(e.Payload, &p) != nil {
		return
	}
	comp := e.Type == events.StepCompensated || e.Type == events.CompensationFailed
	name, command := "step "+p.Step, events.Type("")
	if comp {
		name = "compensate " + p.Step
	}
	start := e.OccurredAt
	if def, ok := t.defs[after.Definition]; ok {
		for i, s := range def.Steps {
			if s.Name != p.Step {
				continue
			}
			command = s.Command
			if comp {
				command = s.Compensation
			}
			if j := stepIndex(before, p.Step); j >= 0 && !before.Steps[j].Deadline.IsZero() {
				start = before.Steps[j].Deadline.Add(-def.Steps[i].Timeout)
			}
		}
	}
	start = clamp(start, after.StartedAt, e.OccurredAt)
	cmdID := events.CommandID(after.SagaID, p.Step, comp, p.Attempt)
	span := tracing.Ended{Trace: st.sc, Parent: tracing.SagaSpanID(after.SagaID), ID: tracing.StepSpanID(cmdID), Name: name,
		Kind: trace.SpanKindProducer, Start: start, End: e.OccurredAt,
		Attrs: append(base, attribute.String("saga.step", p.Step), attribute.Int("saga.attempt", p.Attempt),
			attribute.String("saga.command", string(command)), attribute.String("saga.command_id", cmdID), attribute.String("saga.event", string(e.Type)))}
	if e.Type != events.StepSucceeded && e.Type != events.StepCompensated {
		span.Err = p.Reason
	}
	t.part.Export(span)
}

func stepIndex(s saga.State, name string) int {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

func clamp(t, lo, hi time.Time) time.Time {
	if !lo.IsZero() && t.Before(lo) {
		t = lo
	}
	if t.After(hi) {
		t = hi
	}
	return t
}

// toMessage is bus.ToMessage with the saga's trace context headers.
func (o *Orchestrator) toMessage(e events.Envelope) *message.Message {
	msg := bus.ToMessage(e)
	o.traces.stamp(msg, e)
	return msg
}
