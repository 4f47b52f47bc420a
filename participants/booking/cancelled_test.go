package booking_test

import (
	"testing"

	"github.com/sagaflow/saga/events"
)

// A cancelled show takes reservations but refuses to confirm them, so the
// saga has to refund and release: the path where compensations run after
// the charge.
func TestCancelledShowRefusesConfirmation(t *testing.T) {
	h := newHarness(t)
	data := events.BookingData{BookingRef: "BK-C", UserID: "alice", ShowID: "show-cancelled", Seats: 2}
	if _, p := h.run(cmdSpec{typ: events.ReserveSeats, saga: "s-1", data: data}); p.Outcome != events.OutcomeSucceeded {
		t.Fatalf("reserve on a cancelled show: %s %s, want succeeded", p.Outcome, p.Reason)
	}
	_, p := h.run(cmdSpec{typ: events.ConfirmBooking, saga: "s-1", data: data})
	if p.Outcome != events.OutcomeFailed || p.Reason != "show cancelled by the venue" {
		t.Fatalf("confirm on a cancelled show: %s %q, want failed", p.Outcome, p.Reason)
	}
	if held := h.Svc.Held("show-cancelled"); held != 2 {
		t.Fatalf("a refused confirmation changed the seats held: %d, want 2 until released", held)
	}
}
