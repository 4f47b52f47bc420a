package booking_test

import (
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
	"github.com/sagaflow/saga/participants/participanttest"
)

var t0 = participanttest.T0

// cmdSpec names one command attempt of a saga.
type cmdSpec struct {
	typ     events.Type
	saga    string
	step    string
	attempt int
	comp    bool
	data    events.BookingData
}

// build makes the command envelope and payload the orchestrator would send.
func build(t testing.TB, c cmdSpec) (events.Envelope, events.CommandV1) {
	t.Helper()
	return participanttest.Command(t, participanttest.Cmd{Type: c.typ, Saga: c.saga, Step: c.step, Attempt: c.attempt,
		Comp: c.comp, Data: c.data, Actor: "alice", Correlation: c.data.BookingRef, Key: c.data.ShowID})
}

// harness drives the booking service the way the runtime does.
type harness struct {
	*participanttest.Harness[*booking.Service]
}

func newHarness(t testing.TB) *harness {
	return &harness{participanttest.New(t, func() *booking.Service { return booking.New(demo.Catalog()) })}
}

// run handles and applies one command (participanttest.Harness.Run) and
// checks the answer's payload.
func (h *harness) run(c cmdSpec) (events.Envelope, events.SeatsV1) {
	h.T.Helper()
	cmd, p := build(h.T, c)
	ev := h.Run(cmd, p)
	return ev, checkEvent(h.T, cmd, ev)
}

// checkEvent checks what every answer must carry and returns its payload.
func checkEvent(t testing.TB, cmd events.Envelope, ev events.Envelope) events.SeatsV1 {
	t.Helper()
	p := participanttest.Payload[events.SeatsV1](t, cmd, ev)
	if ev.Key != p.ShowID {
		t.Fatalf("key = %q, want show id %q", ev.Key, p.ShowID)
	}
	return p
}
