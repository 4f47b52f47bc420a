package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/tracing"
	"github.com/sagaflow/saga/tracing/tracingtest"
)

// tracedHarness is the harness exporting to an in-process OTLP receiver
// through the standard environment variable, as `saga up` does.
func tracedHarness(t *testing.T) (*harness, *tracing.Tracer, *tracingtest.Receiver) {
	t.Helper()
	rcv := tracingtest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	tr, err := tracing.FromEnv(context.Background())
	if err != nil || tr == nil {
		t.Fatalf("tracer from the environment: %v, %v", tr, err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	h := startHarness(t, harnessOptions{tracer: tr})
	h.waitShows()
	return h, tr, rcv
}

func (h *harness) waitShows() {
	bustest.Eventually(h.t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=US"})
		return r.status == 200 && strings.Contains(string(r.body), `"show-1"`), string(r.body)
	})
}

// bookingTrace waits until the receiver holds the spans of the saga
// through its end (the saga span is exported last), and returns every
// span of the trace of the saga span, by span id.
func bookingTrace(t *testing.T, tr *tracing.Tracer, rcv *tracingtest.Receiver, sagaID string, want int) (tracingtest.Span, map[string]tracingtest.Span) {
	t.Helper()
	sagaSpan := tracing.SagaSpanID(sagaID).String()
	var root tracingtest.Span
	byID := map[string]tracingtest.Span{}
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		_ = tr.Flush(context.Background())
		byID = map[string]tracingtest.Span{}
		var found bool
		for _, s := range rcv.Spans() {
			if s.SpanID == sagaSpan {
				root, found = s, true
			}
		}
		if !found {
			return false, "no saga span yet"
		}
		for _, s := range rcv.Spans() {
			if s.TraceID == root.TraceID {
				byID[s.SpanID] = s
			}
		}
		return len(byID) >= want, "spans of the trace: " + names(byID)
	})
	return root, byID
}

func names(spans map[string]tracingtest.Span) string {
	var n []string
	for _, s := range spans {
		n = append(n, s.Service+":"+s.Name)
	}
	return strings.Join(n, ", ")
}

// TestOneBookingIsOneTrace books through the API with tracing on: the
// HTTP request, the saga, each step attempt and each participant's
// handling of its command are spans of one trace, each the child of the
// span that caused it; a declined card adds the compensations, and a
// caller's traceparent is the trace. No span names the payment token.
func TestOneBookingIsOneTrace(t *testing.T) {
	h, tr, rcv := tracedHarness(t)
	alice := h.token("alice", api.RoleCustomer)

	t.Run("completed", func(t *testing.T) {
		b := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_ok"),
			headers: []string{"Prefer", "wait=30", "Idempotency-Key", "trace-ok-1"}}).json(t)
		if b["status"] != "completed" {
			t.Fatalf("booking = %v, want completed", b)
		}
		sagaID := b["saga_id"].(string)
		// 1 HTTP + 1 saga + 5 steps + 5 participants.
		root, spans := bookingTrace(t, tr, rcv, sagaID, 12)
		httpSpan, ok := spans[root.ParentID]
		if !ok || httpSpan.Service != "api" || httpSpan.Name != "POST /v1/bookings" {
			t.Fatalf("the saga span's parent %s is %+v, want the API's POST /v1/bookings span; trace: %s", root.ParentID, httpSpan, names(spans))
		}
		if httpSpan.ParentID != "" {
			t.Errorf("the HTTP span has parent %s, want none (the request came without a traceparent)", httpSpan.ParentID)
		}
		if root.Name != "saga book-ticket" || root.Service != "orchestrator" || root.Failed || root.Attrs["saga.status"] != "completed" {
			t.Errorf("saga span = %+v", root)
		}
		steps := checkSteps(t, spans, sagaID, root, []string{"VerifyUser", "ReserveSeats", "ChargePayment", "ConfirmBooking", "SendNotification"}, nil)
		checkParticipants(t, spans, steps, 5)
		checkNoToken(t, rcv.Spans(), "tok_ok")
	})

	t.Run("compensated, in the caller's trace", func(t *testing.T) {
		const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		b := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_declined"),
			headers: []string{"Prefer", "wait=30", "Idempotency-Key", "trace-declined-1", "traceparent", "00-" + callerTrace + "-" + callerSpan + "-01"}}).json(t)
		if b["status"] != "compensated" {
			t.Fatalf("booking = %v, want compensated", b)
		}
		sagaID := b["saga_id"].(string)
		// 1 HTTP + 1 saga + 3 steps + 1 compensation + 4 participants.
		root, spans := bookingTrace(t, tr, rcv, sagaID, 10)
		if root.TraceID != callerTrace {
			t.Errorf("trace id %s, want the caller's %s", root.TraceID, callerTrace)
		}
		if httpSpan := spans[root.ParentID]; httpSpan.ParentID != callerSpan || httpSpan.Service != "api" {
			t.Errorf("the HTTP span %+v should be the child of the caller's span %s", httpSpan, callerSpan)
		}
		if !root.Failed || root.Attrs["saga.status"] != "compensated" {
			t.Errorf("saga span = %+v, want an error status and saga.status compensated", root)
		}
		steps := checkSteps(t, spans, sagaID, root, []string{"VerifyUser", "ReserveSeats", "ChargePayment"}, []string{"ReserveSeats"})
		if s := steps["step ChargePayment"]; !s.Failed {
			t.Errorf("the declined ChargePayment span is not failed: %+v", s)
		}
		checkParticipants(t, spans, steps, 4)
		checkNoToken(t, rcv.Spans(), "tok_declined")
	})
}

// checkSteps checks that each step (and compensation) attempt is one span
// with its derived id, the child of the saga span, within it in time.
func checkSteps(t *testing.T, spans map[string]tracingtest.Span, sagaID string, root tracingtest.Span, steps, comps []string) map[string]tracingtest.Span {
	t.Helper()
	byName := map[string]tracingtest.Span{}
	check := func(name, step string, comp bool) {
		id := tracing.StepSpanID(events.CommandID(sagaID, step, comp, 1)).String()
		s, ok := spans[id]
		if !ok || s.Name != name {
			t.Errorf("no span %q with id %s; trace: %s", name, id, names(spans))
			return
		}
		if s.ParentID != root.SpanID || s.Service != "orchestrator" {
			t.Errorf("%s: parent %s in %s, want the saga span %s in orchestrator", name, s.ParentID, s.Service, root.SpanID)
		}
		if s.Start.Before(root.Start) || s.End.After(root.End) || s.End.Before(s.Start) {
			t.Errorf("%s runs %s..%s, outside the saga's %s..%s", name, s.Start, s.End, root.Start, root.End)
		}
		byName[name] = s
	}
	for _, st := range steps {
		check("step "+st, st, false)
	}
	for _, st := range comps {
		check("compensate "+st, st, true)
	}
	n := 0
	for _, s := range spans {
		if strings.HasPrefix(s.Name, "step ") || strings.HasPrefix(s.Name, "compensate ") {
			n++
		}
	}
	if n != len(steps)+len(comps) {
		t.Errorf("%d step and compensation spans, want %d: %s", n, len(steps)+len(comps), names(spans))
	}
	return byName
}

// checkParticipants checks that each participant span is the child of
// the span of the step attempt whose command it handled.
func checkParticipants(t *testing.T, spans map[string]tracingtest.Span, steps map[string]tracingtest.Span, want int) {
	t.Helper()
	n := 0
	for _, s := range spans {
		if s.Service == "api" || s.Service == "orchestrator" {
			continue
		}
		n++
		parent, ok := spans[s.ParentID]
		if !ok || parent.Attrs["saga.command_id"] != s.Attrs["saga.command_id"] || parent.Attrs["saga.command"] != s.Attrs["saga.command"] {
			t.Errorf("participant span %s:%s (command %s) has parent %+v, want its command's step span", s.Service, s.Name, s.Attrs["saga.command_id"], parent)
		}
	}
	if n != want {
		t.Errorf("%d participant spans, want %d: %s", n, want, names(spans))
	}
}

// checkNoToken fails if any span names the payment token.
func checkNoToken(t *testing.T, spans []tracingtest.Span, token string) {
	t.Helper()
	for _, s := range spans {
		if strings.Contains(s.Name, token) || strings.Contains(s.Status, token) {
			t.Errorf("span %q names the payment token", s.Name)
		}
		for k, v := range s.Attrs {
			if strings.Contains(v, token) {
				t.Errorf("span %q attribute %s=%q names the payment token", s.Name, k, v)
			}
		}
	}
}

// syncBuffer is a log sink the parts write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTracingOff runs with no OTLP endpoint: there is no tracer, and a
// caller's traceparent still reaches every record of its booking (the
// request, the saga log, the commands, the replies and the services'
// events) and the log lines, as trace_id beside correlation_id.
func TestTracingOff(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	if tr, err := tracing.FromEnv(context.Background()); tr != nil || err != nil {
		t.Fatalf("tracer with no endpoint = %v, %v; want none", tr, err)
	}
	logs := &syncBuffer{}
	h := startHarness(t, harnessOptions{log: logs})
	h.waitShows()
	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	b := h.call(201, req{method: "POST", path: "/v1/bookings", token: h.token("alice", api.RoleCustomer), body: booking("show-1", 1, "tok_ok"),
		headers: []string{"Prefer", "wait=30", "Idempotency-Key", "trace-off-1", "traceparent", "00-" + callerTrace + "-b7ad6b7169203331-01"}}).json(t)
	if b["status"] != "completed" {
		t.Fatalf("booking = %v, want completed", b)
	}
	sagaID, ref := b["saga_id"].(string), b["booking_ref"].(string)

	topics := []string{events.TopicRequests, events.TopicSagaLog, events.TopicReplies}
	for _, s := range events.Services() {
		topics = append(topics, events.CommandTopic(s), events.DomainTopic(s))
	}
	seen := map[string]int{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range topics {
		err := bus.ReadAll(ctx, h.cfg, h.cfg.Topic(topic), func(r bus.Record) error {
			if r.Headers[events.HeaderSagaID] != sagaID && r.Headers[events.HeaderCorrelationID] != ref {
				return nil
			}
			sc := tracing.Extract(ctx, r.Headers)
			if !sc.IsValid() || sc.TraceID().String() != callerTrace {
				t.Errorf("%s record %s has traceparent %q, want one in trace %s", topic, r.Headers[events.HeaderType], r.Headers[tracing.HeaderTraceParent], callerTrace)
			}
			seen[topic]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range topics {
		if seen[topic] == 0 && topic != events.CommandTopic(events.ServiceNotification) && topic != events.DomainTopic(events.ServiceNotification) {
			t.Errorf("no record of the booking on %s", topic)
		}
	}

	// Log lines about the booking name its trace.
	bustest.Eventually(t, 10*time.Second, func() (bool, string) {
		services := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) != nil || line["correlation_id"] != ref {
				continue
			}
			if line["trace_id"] != callerTrace {
				t.Fatalf("log line about %s without its trace_id: %s", ref, sc.Text())
			}
			services[line["service"].(string)] = true
		}
		return services["orchestrator"] && services["payment"], "services that logged the booking with its trace id: " + names2(services)
	})
}

func names2(m map[string]bool) string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	return strings.Join(n, ",")
}
