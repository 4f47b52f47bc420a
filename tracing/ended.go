package tracing

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Ended is a span that began and ended in the past, whose ids were chosen
// (derived) before it began, so that records written meanwhile could name
// it as their parent.
type Ended struct {
	// Trace holds the trace id, flags and state; Parent is the parent span
	// (zero: the span is the trace's root). ID is the span's own id.
	Trace  trace.SpanContext
	Parent trace.SpanID
	ID     trace.SpanID
	Name   string
	Kind   trace.SpanKind
	Start  time.Time
	End    time.Time
	Attrs  []attribute.KeyValue
	// Err, when not empty, marks the span failed with this description.
	Err string
}

// Export records e as a span and hands it to the exporter; nothing when p
// is nil (tracing off).
func (p *Part) Export(e Ended) {
	if p == nil || !e.Trace.HasTraceID() {
		return
	}
	ctx := context.Background()
	if e.Parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: e.Trace.TraceID(), SpanID: e.Parent, TraceFlags: e.Trace.TraceFlags(), TraceState: e.Trace.TraceState(), Remote: true}))
	}
	ctx = withIDs(ctx, e.Trace.TraceID(), e.ID)
	_, sp := p.tracer.Start(ctx, e.Name, trace.WithTimestamp(e.Start), trace.WithSpanKind(e.Kind), trace.WithAttributes(e.Attrs...))
	if e.Err != "" {
		sp.SetStatus(codes.Error, e.Err)
	}
	sp.End(trace.WithTimestamp(e.End))
}

// Child is the trace context of span id within the trace of sc.
func Child(sc trace.SpanContext, id trace.SpanID) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: sc.TraceID(), SpanID: id, TraceFlags: sc.TraceFlags(), TraceState: sc.TraceState()})
}
