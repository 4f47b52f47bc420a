package api

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/tracing"
)

// traced starts the span of an HTTP request, a child of the caller's
// traceparent when it sent a valid one (a bad one is ignored), and
// returns the request with the span in its context: the records the
// request posts carry it (see postEnvelope), so a booking's trace starts
// here. With tracing off no span is made, but a caller's valid
// traceparent is still put in the context and so on the records.
//
// The span is named by the route pattern and carries the method, route
// and status only: never the body or the query, which may hold a payment
// token.
func (s *Server) traced(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	ctx := r.Context()
	if h := r.Header.Get(tracing.HeaderTraceParent); h != "" {
		ctx = tracing.Remote(ctx, map[string]string{tracing.HeaderTraceParent: h, tracing.HeaderTraceState: r.Header.Get(tracing.HeaderTraceState)})
	}
	if s.cfg.Tracer == nil {
		return w, r.WithContext(ctx), func() {}
	}
	ctx, sp := s.cfg.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r = r.WithContext(ctx)
	return sw, r, func() {
		if r.Pattern != "" {
			sp.SetName(r.Pattern)
			sp.SetAttributes(attribute.String("http.route", r.Pattern))
		}
		sp.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			sp.SetStatus(codes.Error, http.StatusText(sw.status))
		}
		sp.End()
	}
}

// statusWriter remembers the status written; Flush and Unwrap keep the
// server-sent events and http.ResponseController working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
