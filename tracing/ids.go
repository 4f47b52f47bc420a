package tracing

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"

	"go.opentelemetry.io/otel/trace"
)

// SagaSpanID is the span id of a saga's span: derived from the saga id, so
// that every record of the saga can name it as parent after any restart.
func SagaSpanID(sagaID string) trace.SpanID { return spanIDOf("saga\x00" + sagaID) }

// StepSpanID is the span id of a step attempt's (or a compensation
// attempt's) span: derived from its command id, which is itself derived
// from the saga id, the step and the attempt.
func StepSpanID(commandID string) trace.SpanID { return spanIDOf("step\x00" + commandID) }

// SagaTraceID is the trace id of a saga whose start named no trace: a
// request without a traceparent (from a client that does not trace), or a
// saga whose trace id a recovery found nowhere. Derived from the saga id,
// so every process that meets the saga picks the same.
func SagaTraceID(sagaID string) trace.TraceID {
	sum := sha256.Sum256([]byte("trace\x00" + sagaID))
	var id trace.TraceID
	copy(id[:], sum[:16])
	if !id.IsValid() {
		id[0] = 1
	}
	return id
}

func spanIDOf(s string) trace.SpanID {
	sum := sha256.Sum256([]byte(s))
	var id trace.SpanID
	copy(id[:], sum[:8])
	if !id.IsValid() {
		id[0] = 1
	}
	return id
}

// chosenKey holds the ids the next span started with a context must have.
type chosenKey struct{}

type chosen struct {
	trace trace.TraceID
	span  trace.SpanID
}

// withIDs makes the next span started with ctx take span id span (and
// trace id tid when it has no parent).
func withIDs(ctx context.Context, tid trace.TraceID, span trace.SpanID) context.Context {
	return context.WithValue(ctx, chosenKey{}, chosen{trace: tid, span: span})
}

// chosenIDs is the SDK's id generator: random ids, unless the context
// names the ids (see withIDs). That is how a span whose id was derived,
// and already written as the parent in records, is exported with that id.
type chosenIDs struct{}

func (chosenIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if c, ok := ctx.Value(chosenKey{}).(chosen); ok && c.trace.IsValid() {
		return c.trace, c.span
	}
	return randomTraceID(), randomSpanID()
}

func (chosenIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if c, ok := ctx.Value(chosenKey{}).(chosen); ok {
		return c.span
	}
	return randomSpanID()
}

func randomSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64())
	}
	return id
}

func randomTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64())
		binary.BigEndian.PutUint64(id[8:], rand.Uint64())
	}
	return id
}
