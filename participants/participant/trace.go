package participant

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/tracing"
)

// commandSpan is the span of one command being handled: started when the
// participant takes the command, ended when it has replied. A
// participant's work is short and ends in the one call, so this span,
// unlike the orchestrator's, is an ordinary one held in memory.
type commandSpan struct{ sp trace.Span }

// span starts the span of cmd as a child of the span its traceparent
// names (its step attempt's), and returns the trace context the reply and
// the domain event carry: the new span's, or with tracing off the
// command's own, passed on unchanged. A command without a valid
// traceparent gets no span: it is in no trace.
func (r *Runtime) span(msg *message.Message, cmd events.Envelope, p events.CommandV1) (trace.SpanContext, *commandSpan) {
	sc := tracing.Extract(msg.Context(), msg.Metadata)
	if r.cfg.Tracer == nil || !sc.IsValid() {
		return sc, nil
	}
	ctx := trace.ContextWithRemoteSpanContext(msg.Context(), sc)
	_, sp := r.cfg.Tracer.Start(ctx, "handle "+string(cmd.Type), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("saga.id", cmd.SagaID), attribute.String("saga.booking_ref", cmd.CorrelationID),
			attribute.String("saga.command", string(cmd.Type)), attribute.String("saga.command_id", cmd.ID), attribute.Int("saga.attempt", p.Attempt)))
	return sp.SpanContext(), &commandSpan{sp: sp}
}

// outcome records how the command was handled (never its data).
func (c *commandSpan) outcome(h events.Handled) {
	if c == nil {
		return
	}
	c.sp.SetAttributes(attribute.String("saga.outcome", h.Outcome))
	if h.Outcome != events.OutcomeSucceeded {
		c.sp.SetStatus(codes.Error, h.Reason)
	}
}

func (c *commandSpan) end() {
	if c != nil {
		c.sp.End()
	}
}
