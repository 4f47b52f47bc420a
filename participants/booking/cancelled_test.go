package booking_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
)

// A cancelled show takes reservations but refuses to confirm them, so the
// saga has to refund and release: the path where compensations run after
// the charge.
func TestCancelledShowRefusesConfirmation(t *testing.T) {
	svc := booking.New(demo.Catalog())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	data, _ := json.Marshal(events.BookingData{BookingRef: "BK-C", UserID: "alice", ShowID: "show-cancelled", Seats: 2})
	do := func(typ, step string) events.Envelope {
		t.Helper()
		cmd := events.MustNew(events.CommandID("s-1", step, false, 1), typ, events.CommandV1{Step: step, Attempt: 1, Data: data},
			events.Trace{SagaID: "s-1", CorrelationID: "BK-C", Actor: "alice"}, "show-cancelled", now)
		ev, ok, err := svc.Handle(cmd, events.MustDecode[events.CommandV1](cmd), now)
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", typ, ok, err)
		}
		if err := svc.Apply(ev); err != nil {
			t.Fatalf("apply %s: %v", ev.Type, err)
		}
		return ev
	}
	if p := events.MustDecode[events.SeatsV1](do(events.ReserveSeats, "ReserveSeats")); p.Outcome != events.OutcomeSucceeded {
		t.Fatalf("reserve on a cancelled show: %s %s, want succeeded", p.Outcome, p.Reason)
	}
	p := events.MustDecode[events.SeatsV1](do(events.ConfirmBooking, "ConfirmBooking"))
	if p.Outcome != events.OutcomeFailed || p.Reason != "show cancelled by the venue" {
		t.Fatalf("confirm on a cancelled show: %s %q, want failed", p.Outcome, p.Reason)
	}
	if held := svc.Held("show-cancelled"); held != 2 {
		t.Fatalf("a refused confirmation changed the seats held: %d, want 2 until released", held)
	}
}
