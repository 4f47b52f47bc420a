package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/tracing"
)

// startTracing returns the process's tracer (nil when no OTLP endpoint is
// set: tracing off) and the function that exports its last spans.
func startTracing(ctx context.Context, log zerolog.Logger) (*tracing.Tracer, func(), error) {
	tr, err := tracing.FromEnv(ctx)
	if err != nil || tr == nil {
		return nil, func() {}, err
	}
	log.Debug().Msg("exporting traces over OTLP")
	return tr, func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			log.Warn().Err(err).Msg("traces not all exported")
		}
	}, nil
}

// traceBook starts the span of `saga book`, the root of the booking's
// trace, when tracing is on; end ends it and exports it.
func traceBook(ctx context.Context, log zerolog.Logger) (context.Context, func(), error) {
	tr, stop, err := startTracing(ctx, log)
	if err != nil || tr == nil {
		return ctx, stop, err
	}
	ctx, sp := tr.Part("saga-cli").Start(ctx, "saga book", trace.WithSpanKind(trace.SpanKindClient))
	return ctx, func() { sp.End(); stop() }, nil
}
