package system_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sagaflow/saga/projections"
)

func stepOf(v projections.SagaView, name string) projections.StepView {
	for _, s := range v.Steps {
		if s.Name == name {
			return s
		}
	}
	return projections.StepView{}
}

// A payment service that swallows the charge: the step's deadline passes,
// it is retried by its policy, then the saga is compensated.
func TestTimedOutStepIsRetriedThenCompensated(t *testing.T) {
	h := newHarness(t)
	h.run()
	v := h.wait(h.book("alice", "show-1", 2, "tok_timeout"))
	if v.Status != "compensated" {
		t.Fatalf("status %s (%s), want compensated", v.Status, v.Reason)
	}
	timeouts := 0
	for _, e := range v.Events {
		if e.Type == "StepTimedOut" && e.Step == "ChargePayment" {
			timeouts++
		}
	}
	if want := testTimings.StepRetry.MaxAttempts; timeouts != want || stepOf(v, "ChargePayment").Attempts != want {
		t.Fatalf("ChargePayment timed out %d times in %d attempts, want %d of each", timeouts, stepOf(v, "ChargePayment").Attempts, want)
	}
	if !strings.Contains(v.Reason, "no reply within") {
		t.Fatalf("reason %q does not name the deadline", v.Reason)
	}
	// The charge may have happened, so it is compensated (a refund of
	// nothing), then the seats are released.
	if got := stepStatuses(v); got["ChargePayment"] != "compensated" || got["ReserveSeats"] != "compensated" {
		t.Fatalf("steps %v", got)
	}
	if s := h.seats("show-1"); s.Held != 0 {
		t.Fatalf("show-1 holds %d seats after the compensation", s.Held)
	}
}

// A show that refuses confirmation after the charge: the refund runs first,
// then the seats are released, in reverse order.
func TestFailureAfterChargeRefundsThenReleases(t *testing.T) {
	h := newHarness(t)
	h.run()
	v := h.wait(h.book("bob", "show-cancelled", 3, "tok_ok"))
	if v.Status != "compensated" {
		t.Fatalf("status %s (%s)", v.Status, v.Reason)
	}
	var undo []string
	for _, e := range v.Events {
		if e.Type == "CompensationStarted" {
			undo = append(undo, e.Step)
		}
	}
	if strings.Join(undo, ",") != "ChargePayment,ReserveSeats" {
		t.Fatalf("compensations ran as %v, want the refund then the release", undo)
	}
	if s := h.seats("show-cancelled"); s.Held != 0 {
		t.Fatalf("show-cancelled holds %d seats", s.Held)
	}
}

// A refund that keeps failing parks the saga as failed; once the cause is
// fixed, `saga retry` resumes it and it ends compensated.
func TestFailingRefundParksTheSagaUntilRetried(t *testing.T) {
	h := newHarness(t)
	h.run()
	rec := h.book("alice", "show-cancelled", 1, "tok_refund_fails")
	v := h.wait(rec)
	if v.Status != "failed" || !strings.Contains(v.Reason, "ChargePayment") {
		t.Fatalf("status %s (%s), want failed naming the refund", v.Status, v.Reason)
	}
	if s := h.seats("show-cancelled"); s.Held != 1 {
		t.Fatalf("a parked saga released its seats before its refund: %d held", s.Held)
	}
	retried, err := h.c.Retry(context.Background(), rec.BookingRef, "", "refunds fixed")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sagaTimeout)
	defer cancel()
	v, err = h.c.WaitAfter(ctx, retried.SagaID, retried.Seen)
	if err != nil || v.Status != "compensated" {
		t.Fatalf("after retry: %s %v (%s)", v.Status, err, v.Reason)
	}
	if got := stepStatuses(v); got["ChargePayment"] != "compensated" || got["ReserveSeats"] != "compensated" {
		t.Fatalf("steps after retry %v", got)
	}
	if s := h.seats("show-cancelled"); s.Held != 0 {
		t.Fatalf("show-cancelled holds %d seats after the retry", s.Held)
	}
}

// After the pivot the saga only goes forward: carol's phone bounces three
// messages, the notification is retried, and the booking stays confirmed.
func TestNotificationRetriedAfterThePivot(t *testing.T) {
	h := newHarness(t)
	h.run()
	v := h.wait(h.book("carol", "show-1", 1, "tok_ok"))
	if v.Status != "completed" {
		t.Fatalf("status %s (%s), want completed", v.Status, v.Reason)
	}
	if n := stepOf(v, "SendNotification"); n.Attempts != 4 || n.Status != "succeeded" {
		t.Fatalf("SendNotification %+v, want succeeded on attempt 4", n)
	}
	if got := stepStatuses(v); got["ConfirmBooking"] != "succeeded" || got["ChargePayment"] != "succeeded" {
		t.Fatalf("steps %v", got)
	}
}
