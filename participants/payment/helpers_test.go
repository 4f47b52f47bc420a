package payment_test

import (
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/payment"
)

var t0 = participanttest.T0

// cmdSpec names one command attempt of a saga.
type cmdSpec struct {
	typ     events.Type
	saga    string
	attempt int
	comp    bool
	data    events.BookingData
}

// build makes the command envelope and payload the orchestrator would send.
func build(t testing.TB, c cmdSpec) (events.Envelope, events.CommandV1) {
	t.Helper()
	return participanttest.Command(t, participanttest.Cmd{Type: c.typ, Saga: c.saga, Attempt: c.attempt, Comp: c.comp,
		Data: c.data, Actor: "alice", Correlation: c.data.BookingRef, Key: c.data.BookingRef})
}

// harness drives the payment service the way the runtime does.
type harness struct {
	*participanttest.Harness[*payment.Service]
}

func newHarness(t testing.TB) *harness {
	return &harness{participanttest.New(t, func() *payment.Service { return payment.New(demo.Processor{}) })}
}

// run handles and applies one command that must be answered, checking
// what try checks.
func (h *harness) run(c cmdSpec) (events.Envelope, events.PaymentV1) {
	h.T.Helper()
	ev, pay, ok := h.try(c)
	if !ok {
		h.T.Fatalf("%s %s attempt %d: dropped", c.typ, c.data.BookingRef, c.attempt)
	}
	return ev, pay
}

// try handles one command and applies its event, if it has one
// (participanttest.Harness.Try), and checks the answer's key and payload.
// ok=false means the service dropped the command.
func (h *harness) try(c cmdSpec) (events.Envelope, events.PaymentV1, bool) {
	h.T.Helper()
	cmd, p := build(h.T, c)
	ev, ok := h.Try(cmd, p)
	if !ok {
		return ev, events.PaymentV1{}, false
	}
	if ev.Key != c.data.BookingRef {
		h.T.Fatalf("key = %q, want booking ref %q", ev.Key, c.data.BookingRef)
	}
	pay := participanttest.Payload[events.PaymentV1](h.T, cmd, ev)
	if pay.BookingRef != c.data.BookingRef {
		h.T.Fatalf("payload names the wrong command or ref: %+v", pay)
	}
	return ev, pay, true
}
