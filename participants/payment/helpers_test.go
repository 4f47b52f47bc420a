package payment_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/payment"
)

// service mirrors participant.Service without importing the runtime.
type service interface {
	Name() string
	Apply(e events.Envelope) error
	Handle(cmd events.Envelope, payload events.CommandV1, now time.Time) (events.Envelope, bool, error)
}

var _ service = (*payment.Service)(nil)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// cmdSpec names one command attempt of a saga.
type cmdSpec struct {
	typ     string
	saga    string
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
	if c.attempt == 0 {
		c.attempt = 1
	}
	p := events.CommandV1{Step: c.typ, Attempt: c.attempt, Compensation: c.comp, Data: raw}
	env, err := events.New(events.CommandID(c.saga, c.typ, c.comp, c.attempt), c.typ, p,
		events.Trace{SagaID: c.saga, CorrelationID: c.data.BookingRef, Actor: "alice"}, c.data.BookingRef, t0)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

// harness drives a service the way the runtime does and keeps its log.
type harness struct {
	t   testing.TB
	svc *payment.Service
	log []events.Envelope
	// every is how often run refolds the whole log (1: after every
	// command); long runs check less often to stay linear-ish.
	every int
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, svc: payment.New(demo.Processor{}), every: 1}
}

func fold(t testing.TB, log []events.Envelope) *payment.Service {
	t.Helper()
	s := payment.New(demo.Processor{})
	for _, e := range log {
		if err := s.Apply(e); err != nil {
			t.Fatalf("fold %s: %v", e.Type, err)
		}
	}
	return s
}

// run handles and applies one command that must be answered, checking
// what try checks.
func (h *harness) run(c cmdSpec) (events.Envelope, events.PaymentV1) {
	h.t.Helper()
	ev, pay, ok := h.try(c)
	if !ok {
		h.t.Fatalf("%s %s attempt %d: dropped", c.typ, c.data.BookingRef, c.attempt)
	}
	return ev, pay
}

// try handles one command and applies its event, if it has one, checking
// that Handle changed nothing, that the event is well formed and traced,
// and that folding the log from scratch gives the live state. ok=false
// means the service dropped the command: no event, nothing changes.
func (h *harness) try(c cmdSpec) (events.Envelope, events.PaymentV1, bool) {
	h.t.Helper()
	cmd, p := build(h.t, c)
	ev, ok, err := h.svc.Handle(cmd, p, t0.Add(time.Duration(len(h.log))*time.Second))
	if err != nil {
		h.t.Fatalf("%s %s: ok=%v err=%v", c.typ, c.data.BookingRef, ok, err)
	}
	strict := len(h.log)%h.every == 0
	if !ok {
		if ev.ID != "" || ev.Type != "" || ev.Payload != nil {
			h.t.Fatalf("%s: a dropped command came with an event: %+v", c.typ, ev)
		}
		if strict && !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
			h.t.Fatalf("%s: dropping the command changed state", c.typ)
		}
		return ev, events.PaymentV1{}, false
	}
	if strict && !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatalf("%s: Handle changed state", c.typ)
	}
	if _, err := events.Check(ev); err != nil {
		h.t.Fatalf("event does not validate: %v", err)
	}
	if ev.ID != events.DerivedID(cmd.ID, "event") || ev.SagaID != c.saga || ev.CorrelationID != c.data.BookingRef ||
		ev.CausationID != cmd.ID || ev.Actor != "alice" || ev.Key != c.data.BookingRef {
		h.t.Fatalf("event identity/trace/key wrong: %+v", ev)
	}
	pay := events.MustDecode[events.PaymentV1](ev)
	if pay.CommandID != cmd.ID || pay.BookingRef != c.data.BookingRef {
		h.t.Fatalf("payload names the wrong command or ref: %+v", pay)
	}
	if err := h.svc.Apply(ev); err != nil {
		h.t.Fatalf("apply %s: %v", ev.Type, err)
	}
	h.log = append(h.log, ev)
	if strict && !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatalf("%s: folding the log does not rebuild the live state", c.typ)
	}
	return ev, pay, true
}
