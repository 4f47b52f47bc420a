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

// SampledRoot reports whether the part's sampler (the SDK's, configured by
// OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG) samples a trace that
// begins here with id. The orchestrator asks it for a trace it derives
// from a saga id, so that such a trace is sampled, or not, as a root span
// of the API or the CLI would be: a ratio sampler then thins out every
// part's spans alike (a participant's spans follow their command's flag).
func (p *Part) SampledRoot(id trace.TraceID) bool {
	if p == nil {
		return false
	}
	// The span is never ended, so it is never exported: only the
	// sampler's decision is wanted.
	_, sp := p.tracer.Start(withIDs(context.Background(), id, trace.SpanID{1}), "sample", trace.WithNewRoot())
	return sp.SpanContext().IsSampled()
}
