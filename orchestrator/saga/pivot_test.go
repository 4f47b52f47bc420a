package saga_test

import (
	"testing"

	"github.com/sagaflow/saga/orchestrator/saga"
)

// A pivot that does not answer may have taken effect, and nothing undoes
// it: it is asked again, past its retry policy, until an answer comes.
func TestPivotTimingOutIsRetriedUntilAnswered(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start act
		steps int // steps before the pivot
		pivot string
	}{
		{"book-ticket's ConfirmBooking", start("book-ticket", bookData), 3, "ConfirmBooking"},
		{"cancel-booking's RefundPayment", start("cancel-booking", cancelData), 0, "RefundPayment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			acts := flat(tt.start, oks(tt.steps))
			for range 2 * maxAttempt {
				acts = append(acts, timeout, wake)
			}
			d := run(t, acts...)
			st := d.inFlight()
			if d.s.Status != saga.StatusRunning || st.Name != tt.pivot || st.Attempt != 2*maxAttempt+1 {
				t.Fatalf("after %d timeouts: saga %s, in flight %s attempt %d", 2*maxAttempt, d.s.Status, st.Name, st.Attempt)
			}
			ok("").do(d)
			for d.s.Status == saga.StatusRunning {
				ok("").do(d)
			}
			if d.s.Status != saga.StatusCompleted {
				t.Fatalf("after the pivot answered: %s (%s)", d.s.Status, d.s.Reason)
			}
		})
	}
}

// A pivot that answers "failed" has not taken effect: the saga compensates.
func TestPivotRefusedCompensates(t *testing.T) {
	d := run(t, flat(start("book-ticket", bookData), oks(3), fail("show cancelled"))...)
	if d.s.Status != saga.StatusCompensating {
		t.Fatalf("saga %s after the pivot was refused, want compensating", d.s.Status)
	}
}

// Listing a show has an effect nothing undoes: unanswered, it is asked
// again until it answers, however long the booking service is away.
func TestAddShowTimingOutIsRetriedUntilAnswered(t *testing.T) {
	acts := []act{start("add-show", `{"show_id":"s9","title":"T","venue":"V","country":"US","capacity":5,"price_cents":100}`)}
	for range 2 * maxAttempt {
		acts = append(acts, timeout, wake)
	}
	d := run(t, acts...)
	if d.s.Status != saga.StatusRunning || d.inFlight().Attempt != 2*maxAttempt+1 {
		t.Fatalf("after %d timeouts: %s, attempt %d", 2*maxAttempt, d.s.Status, d.inFlight().Attempt)
	}
	ok("").do(d)
	if d.s.Status != saga.StatusCompleted {
		t.Fatalf("after the answer: %s", d.s.Status)
	}
}
