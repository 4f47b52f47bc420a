package service_test

import (
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/service"
)

// guestList is a fifth service in one file, as the package documentation
// tells: the guests of each booking reference, added by ReserveSeats and
// removed by its compensation, ReleaseSeats. It keeps no command ids:
// service.Once does.
type guestList struct {
	// guests is each booking ref's place: true on the list, false a
	// tombstone (released, perhaps before its reservation arrived).
	guests map[string]bool
}

var _ service.Service = (*guestList)(nil)

func newGuestList() *guestList { return &guestList{guests: map[string]bool{}} }

func (g *guestList) Name() string { return "guestlist" }

// Handle decides; it never changes state.
func (g *guestList) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	if d.BookingRef == "" || d.ShowID == "" {
		return events.Envelope{}, false, events.Malformed("%s: booking_ref and show_id are required", cmd.Type)
	}
	out := events.SeatsV1{Handled: events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded},
		BookingRef: d.BookingRef, ShowID: d.ShowID, Seats: d.Seats}
	var typ events.Type
	switch cmd.Type {
	case events.ReserveSeats:
		typ = events.SeatsReserved
		if listed, known := g.guests[d.BookingRef]; known && !listed {
			typ, out.Outcome, out.Reason = events.SeatsRejected, events.OutcomeFailed, "booking already released"
		}
	case events.ReleaseSeats:
		typ = events.SeatsReleased // releasing nothing succeeds, and leaves a tombstone
	default:
		return events.Envelope{}, false, events.Malformed("guestlist service does not handle %q", cmd.Type)
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, out, events.TraceOf(cmd), d.ShowID, now)
	return ev, err == nil, err
}

// Apply folds one of its own events, read through the registry.
func (g *guestList) Apply(e events.Envelope) error {
	switch e.Type {
	case events.SeatsReserved, events.SeatsRejected, events.SeatsReleased:
	default:
		return events.Malformed("guestlist service has no event %q", e.Type)
	}
	e, p, err := events.CheckAs[events.SeatsV1](e)
	if err != nil {
		return err
	}
	switch listed, known := g.guests[p.BookingRef]; {
	case e.Type == events.SeatsReserved && !known:
		g.guests[p.BookingRef] = true
	case e.Type == events.SeatsReleased && (listed || !known):
		g.guests[p.BookingRef] = false
	}
	return nil
}

// TestGuestList drives the example through the shared harness: a repeated
// command gets the original answer, a compensation that overtook its
// command leaves the reservation refused, and what a service could not
// have written is refused.
func TestGuestList(t *testing.T) {
	h := participanttest.New(t, newGuestList)
	cmd := func(typ events.Type, saga, ref string, comp bool) (events.Envelope, events.CommandV1) {
		return participanttest.Command(t, participanttest.Cmd{Type: typ, Saga: saga, Comp: comp, Actor: "alice", Correlation: ref, Key: "show-1",
			Data: events.BookingData{BookingRef: ref, UserID: "alice", ShowID: "show-1", Seats: 1}})
	}
	tests := []struct {
		name      string
		typ       events.Type
		saga, ref string
		comp      bool
		want      events.Type
		log       int
	}{
		{"a reservation lists the guest", events.ReserveSeats, "s1", "BK-1", false, events.SeatsReserved, 1},
		{"the same command again writes nothing", events.ReserveSeats, "s1", "BK-1", false, events.SeatsReserved, 1},
		{"its release", events.ReleaseSeats, "s1", "BK-1", true, events.SeatsReleased, 2},
		{"the reservation redelivered after its release", events.ReserveSeats, "s1", "BK-1", false, events.SeatsReserved, 2},
		{"a release before its reservation", events.ReleaseSeats, "s2", "BK-2", true, events.SeatsReleased, 3},
		{"the late reservation is refused", events.ReserveSeats, "s2", "BK-2", false, events.SeatsRejected, 4},
	}
	for _, tt := range tests {
		c, p := cmd(tt.typ, tt.saga, tt.ref, tt.comp)
		ev := h.Run(c, p)
		participanttest.Payload[events.SeatsV1](t, c, ev)
		if ev.Type != tt.want || len(h.Log) != tt.log {
			t.Fatalf("%s: %s with %d events logged, want %s with %d", tt.name, ev.Type, len(h.Log), tt.want, tt.log)
		}
	}
	if h.Svc.guests["BK-1"] || h.Svc.guests["BK-2"] {
		t.Fatalf("guests %v, want both released", h.Svc.guests)
	}
	h.Refuses(cmd(events.ChargePayment, "s3", "BK-3", false))
	h.Refuses(cmd(events.ReserveSeats, "s3", "", false))
	h.RefusesEvent(events.MustNew("e", events.PaymentCharged, events.PaymentV1{}, events.Trace{}, "k", participanttest.T0))
}
