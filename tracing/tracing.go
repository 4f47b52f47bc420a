// Package tracing is the product's OpenTelemetry tracing: one trace per
// booking, from the HTTP request (or `saga book`) through the orchestrator
// to every participant and back, carried in W3C trace context headers on
// the Kafka records.
//
// A saga lives across many records, minutes and orchestrator restarts, so
// its spans are not held open in memory. The orchestrator derives the ids
// of the saga span (from the saga id) and of each step attempt and
// compensation span (from the command id, itself derived from saga id,
// step and attempt), so every record it writes can name its parent with no
// state but the trace id, and exports a span only when it ends, with the
// start time taken from the log. Participants, whose work is short, hold
// an ordinary span while they handle a command.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, and off otherwise: a nil
// *Tracer, with no exporter and no span ever allocated. When off, the
// trace context a request came with still flows: the orchestrator writes
// the same traceparent headers it writes when on (string formatting only),
// and a participant copies its command's onto its reply and events, so a
// tracing system downstream of Kafka still sees one trace.
//
// Spans wait in the SDK's batch processor (OTEL_BSP_SCHEDULE_DELAY, 5 s by
// default) before they are exported: a process killed with -9 loses the
// spans of its last seconds (an ended saga's span is not made again after
// a restart), never a record or its headers. Shutdown exports them.
package tracing

import (
	"context"
	"errors"
	"os"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Enabled reports whether the environment asks for traces to be exported:
// the standard OTLP endpoint variables.
func Enabled() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Tracer exports the spans of every part of one process over OTLP/HTTP.
// Each part (the api, the orchestrator, each participant) is its own
// OpenTelemetry service, so a trace viewer shows the hops between them.
// A nil *Tracer is tracing off; all its methods are safe to call.
type Tracer struct {
	exp sdktrace.SpanExporter

	mu    sync.Mutex
	parts map[string]*Part
}

// FromEnv returns the process's tracer, or nil when tracing is off (see
// Enabled). The exporter reads the standard OTEL_EXPORTER_OTLP_* variables
// (endpoint, headers, timeout); it connects lazily, so a collector that is
// down costs dropped spans, never a failed start.
func FromEnv(ctx context.Context) (*Tracer, error) {
	if !Enabled() {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, err
	}
	return New(exp), nil
}

// New returns a tracer exporting to exp.
func New(exp sdktrace.SpanExporter) *Tracer {
	return &Tracer{exp: exp, parts: map[string]*Part{}}
}

// Part is the tracer of one part of the system, named as a service.
type Part struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// Part returns the tracer of the named part (nil when t is nil).
func (t *Tracer) Part(service string) *Part {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.parts[service]; ok {
		return p
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attribute.String("service.name", service)))
	if err != nil {
		res = resource.Default()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(t.exp), sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(chosenIDs{}))
	p := &Part{tp: tp, tracer: tp.Tracer("github.com/sagaflow/saga")}
	t.parts[service] = p
	return p
}

// Flush exports every ended span now.
func (t *Tracer) Flush(ctx context.Context) error {
	return t.each(func(p *Part) error { return p.tp.ForceFlush(ctx) })
}

// Shutdown exports what is left and stops exporting.
func (t *Tracer) Shutdown(ctx context.Context) error {
	return t.each(func(p *Part) error { return p.tp.Shutdown(ctx) })
}

func (t *Tracer) each(f func(*Part) error) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, p := range t.parts {
		errs = append(errs, f(p))
	}
	return errors.Join(errs...)
}

// Start starts a span as a child of whatever span ctx holds (a remote one
// from headers included).
func (p *Part) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return p.tracer.Start(ctx, name, opts...)
}
