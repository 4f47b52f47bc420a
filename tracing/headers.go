package tracing

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C trace context headers every record the product writes carries
// when it belongs to a trace.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// propagator parses and writes the headers exactly as W3C Trace Context
// says; it holds no state.
var propagator = propagation.TraceContext{}

// carrier is a record's headers (watermill metadata is the same map type).
type carrier map[string]string

func (c carrier) Get(k string) string { return c[k] }
func (c carrier) Set(k, v string)     { c[k] = v }
func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns the trace context of a record's headers, or an invalid
// (zero) one when there is none or it is malformed.
//
// The trace context headers are not signed (a record's signature covers a
// fixed list of envelope fields), so they are untrusted input: they are
// parsed strictly by the W3C propagator, and one that does not parse is
// ignored, never an error and never a dead letter. A forged traceparent
// can only mislead traces (put a saga's spans in another trace, or name a
// wrong parent); it changes nothing a saga does.
func Extract(ctx context.Context, h map[string]string) trace.SpanContext {
	if h[HeaderTraceParent] == "" {
		return trace.SpanContext{}
	}
	// Without a span in the context it parses into, what comes back is
	// the header's or nothing.
	ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	return trace.SpanContextFromContext(propagator.Extract(ctx, carrier(h)))
}

// Put writes sc into headers h as W3C version 00 (what the propagator
// writes, formatted here without building a context for it: it runs for
// every record); an invalid sc writes nothing.
func Put(h map[string]string, sc trace.SpanContext) {
	if !sc.IsValid() {
		return
	}
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
	h[HeaderTraceParent] = string(b[:])
	if ts := sc.TraceState(); ts.Len() > 0 {
		h[HeaderTraceState] = ts.String()
	}
}

// Inject writes the trace context of the span ctx holds (a remote one
// included) into headers h, and nothing when ctx holds none.
func Inject(ctx context.Context, h map[string]string) {
	Put(h, trace.SpanContextFromContext(ctx))
}

// Remote returns ctx with the trace context of headers h as its remote
// parent; ctx itself when h has none that parses.
func Remote(ctx context.Context, h map[string]string) context.Context {
	if sc := Extract(ctx, h); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// TraceID is the trace id of sc as log lines name it, or "" when invalid.
func TraceID(sc trace.SpanContext) string {
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}
