package booking_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
)

// service mirrors participant.Service. The tests do not import that
// package so they need neither Kafka plumbing nor its build to pass.
type service interface {
	Name() string
	Apply(e events.Envelope) error
	Handle(cmd events.Envelope, payload events.CommandV1, now time.Time) (events.Envelope, bool, error)
}

var _ service = (*booking.Service)(nil)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// cmdSpec names one command attempt of a saga.
type cmdSpec struct {
	typ     string
	saga    string
	step    string
	attempt int
	comp    bool
	data    events.BookingData
}

// build makes the command envelope and payload the orchestrator would send.
func build(t testing.TB, c cmdSpec) (events.Envelope, events.CommandV1) {
	t.Helper()
	raw, err := json.Marshal(c.data)
	if err != nil {
		t.Fatal(err)
	}
	if c.step == "" {
		c.step = c.typ
	}
	if c.attempt == 0 {
		c.attempt = 1
	}
	p := events.CommandV1{Step: c.step, Attempt: c.attempt, Compensation: c.comp, Data: raw}
	env, err := events.New(events.CommandID(c.saga, c.step, c.comp, c.attempt), c.typ, p,
		events.Trace{SagaID: c.saga, CorrelationID: c.data.BookingRef, Actor: "alice"}, c.data.ShowID, t0)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

// harness drives a service the way the runtime does and keeps its log.
type harness struct {
	t   testing.TB
	svc *booking.Service
	log []events.Envelope
	// every is how often run refolds the whole log (1: after every
	// command); long runs check less often to stay linear-ish.
	every int
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, svc: booking.New(demo.Catalog()), every: 1}
}

// fold rebuilds a service from scratch out of log.
func fold(t testing.TB, log []events.Envelope) *booking.Service {
	t.Helper()
	s := booking.New(demo.Catalog())
	for _, e := range log {
		if err := s.Apply(e); err != nil {
			t.Fatalf("fold %s: %v", e.Type, err)
		}
	}
	return s
}

// run handles and applies one command, checking that Handle changed
// nothing, that the event is well formed and traced, and that folding the
// log from scratch gives the live state.
func (h *harness) run(c cmdSpec) (events.Envelope, events.SeatsV1) {
	h.t.Helper()
	cmd, p := build(h.t, c)
	ev, ok, err := h.svc.Handle(cmd, p, t0.Add(time.Duration(len(h.log))*time.Second))
	if err != nil || !ok {
		h.t.Fatalf("%s %s: ok=%v err=%v", c.typ, c.data.BookingRef, ok, err)
	}
	strict := len(h.log)%h.every == 0
	if strict && !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatalf("%s: Handle changed state", c.typ)
	}
	pay := checkEvent(h.t, cmd, ev)
	if err := h.svc.Apply(ev); err != nil {
		h.t.Fatalf("apply %s: %v", ev.Type, err)
	}
	h.log = append(h.log, ev)
	if strict && !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatalf("%s: folding the log does not rebuild the live state", c.typ)
	}
	return ev, pay
}

// checkEvent checks what every answer must carry and returns its payload.
func checkEvent(t testing.TB, cmd events.Envelope, ev events.Envelope) events.SeatsV1 {
	t.Helper()
	if _, err := events.Check(ev); err != nil {
		t.Fatalf("event does not validate: %v", err)
	}
	want := events.TraceOf(cmd)
	if ev.ID != events.DerivedID(cmd.ID, "event") || ev.SagaID != want.SagaID ||
		ev.CorrelationID != want.CorrelationID || ev.CausationID != cmd.ID || ev.Actor != want.Actor {
		t.Fatalf("event identity/trace wrong: %+v", ev)
	}
	p := events.MustDecode[events.SeatsV1](ev)
	if p.CommandID != cmd.ID {
		t.Fatalf("command_id = %q, want %q", p.CommandID, cmd.ID)
	}
	if ev.Key != p.ShowID {
		t.Fatalf("key = %q, want show id %q", ev.Key, p.ShowID)
	}
	return p
}
