package saga_test

import (
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// resume is an operator's retry of a failed saga.
var resume = act{"resume", func(d *driver) {
	req := events.MustNew(events.DerivedID(d.s.SagaID, "resume"), events.ResumeSaga, events.ResumeSagaV1{Reason: "refunds fixed"},
		events.Trace{SagaID: d.s.SagaID, CorrelationID: d.s.BookingRef, Actor: "operator"}, d.s.SagaID, d.now)
	d.feed(saga.Resume{Request: req, Reason: "refunds fixed"})
}}

// parkedRefund drives a booking until its refund has failed for good.
var parkedRefund = flat(start("book-ticket", bookData), oks(3), fail("x"),
	repeat(maxComp-1, act{"fail+wake", func(d *driver) { fail("r").do(d); wake.do(d) }}), fail("r"))

func TestResumeFailedSaga(t *testing.T) {
	d := run(t, parkedRefund...)
	if d.s.Status != saga.StatusFailed {
		t.Fatalf("setup: saga is %s, want failed", d.s.Status)
	}
	resume.do(d)
	got := summary(d.last)
	if len(got) != 2 || !strings.HasPrefix(got[0], "SagaResumed") || got[1] != "CompensationStarted ChargePayment 6" {
		t.Fatalf("resume emitted %v, want SagaResumed then CompensationStarted ChargePayment 6", got)
	}
	// The resume's record names the operator who acted; the refund it
	// starts acts for the saga's owner, as the saga's other records do.
	if by, owner := d.last[0].Actor, d.last[1].Actor; by != "operator" || owner != d.s.Actor || owner == "operator" {
		t.Errorf("SagaResumed by %q and its CompensationStarted by %q, want operator and the owner %q", by, owner, d.s.Actor)
	}
	if d.s.Status != saga.StatusCompensating {
		t.Fatalf("after resume the saga is %s, want compensating", d.s.Status)
	}
	// The parked compensation's failure is history now: the saga again
	// compensates for the step that failed.
	if want := "ConfirmBooking failed: x"; d.s.Reason != want {
		t.Errorf("after resume the reason is %q, want %q", d.s.Reason, want)
	}
	if id := d.inFlight().CommandID; id != events.CommandID(d.s.SagaID, "ChargePayment", true, 6) {
		t.Fatalf("resumed refund has command id %s, want attempt 6's", id)
	}
	ok("").do(d) // the refund goes through now
	ok("").do(d) // the seats are released
	if d.s.Status != saga.StatusCompensated {
		t.Fatalf("after the resumed compensations the saga is %s, want compensated", d.s.Status)
	}
	if ended := summary(d.last); len(ended) == 0 || ended[len(ended)-1] != "SagaCompensated" || d.s.Reason != "ConfirmBooking failed: x" {
		t.Errorf("a resumed saga ended with %v, reason %q: want SagaCompensated for the step that failed", ended, d.s.Reason)
	}
	if got := statuses(d.s); got != "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=compensated ConfirmBooking=failed SendNotification=skipped" {
		t.Fatalf("steps %s", got)
	}
}

func TestResumedCompensationGetsTheAttemptsAgain(t *testing.T) {
	d := run(t, parkedRefund...)
	resume.do(d)
	for range maxComp - 1 {
		fail("still down").do(d)
		if d.s.Status != saga.StatusCompensating {
			t.Fatalf("a resumed compensation parked again after fewer than %d attempts", maxComp)
		}
		wake.do(d)
	}
	fail("still down").do(d)
	if d.s.Status != saga.StatusFailed {
		t.Fatalf("after %d more failures the saga is %s, want failed again", maxComp, d.s.Status)
	}
	resume.do(d)
	if d.inFlight().CompAttempt != 2*maxComp+1 {
		t.Fatalf("second resume starts attempt %d, want %d", d.inFlight().CompAttempt, 2*maxComp+1)
	}
}

func TestResumeIgnoredUnlessFailed(t *testing.T) {
	for name, acts := range map[string][]act{
		"running":     {start("book-ticket", bookData)},
		"completed":   flat(start("book-ticket", bookData), oks(5)),
		"compensated": {start("book-ticket", bookData), fail("blocked")},
	} {
		t.Run(name, func(t *testing.T) {
			d := run(t, acts...)
			before := d.s
			out, err := machine.Decide(d.s, saga.Resume{Reason: "x"}, d.now)
			if err != nil || len(out) != 0 || d.s.Status != before.Status {
				t.Fatalf("resume of a %s saga emitted %v (err %v)", name, summary(out), err)
			}
		})
	}
}
