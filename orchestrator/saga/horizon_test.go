package saga_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// releasing drives a booking until the release of its seats is in flight.
var releasing = []act{start(flows.BookTicket, bookData), ok(""), ok(""), fail("declined")}

// withHorizon returns a driver whose machine retries unanswered
// compensations for horizon.
func withHorizon(t *testing.T, horizon time.Duration, acts ...act) *driver {
	t.Helper()
	d := newDriver(t)
	d.m = machine.WithCompensationHorizon(horizon)
	for _, a := range acts {
		a.do(d)
	}
	return d
}

// A participant that does not answer its compensations is waited for:
// attempts go on past the definition's five, with the backoff capped,
// until the horizon has passed since the first attempt; then the saga is
// parked.
func TestUnansweredCompensationRetriesUntilTheHorizon(t *testing.T) {
	const horizon = 10 * time.Minute
	d := withHorizon(t, horizon, releasing...)
	first := d.now
	if st := d.s.Steps[1]; !st.CompStartedAt.Equal(first) {
		t.Fatalf("the release's first attempt started at %s, recorded %s", first, st.CompStartedAt)
	}
	capped := flows.BookTicketDefinition().CompensationRetry.MaxBackoff
	for d.s.Status == saga.StatusCompensating {
		timeout.do(d)
		p := events.MustDecode[events.StepFailedV1](d.last[0])
		if d.last[0].Type != events.CompensationFailed {
			t.Fatalf("a timed-out release emitted %v", summary(d.last))
		}
		if p.RetryAt.IsZero() {
			break
		}
		if wait := p.RetryAt.Sub(d.now); wait <= 0 || wait > capped {
			t.Fatalf("attempt %d waits %s for the next, want (0, %s]", p.Attempt, wait, capped)
		}
		wake.do(d)
		if st := d.s.Steps[1]; !st.CompStartedAt.Equal(first) {
			t.Fatalf("attempt %d moved the first attempt's time to %s", st.CompAttempt, st.CompStartedAt)
		}
	}
	if d.s.Status != saga.StatusFailed {
		t.Fatalf("after the horizon the saga is %s, want failed", d.s.Status)
	}
	if got := summary(d.last); !reflect.DeepEqual(got[1:], []string{"SagaFailed", "SagaStuck failed"}) {
		t.Errorf("the last attempt emitted %v", got)
	}
	if elapsed := d.now.Sub(first); elapsed < horizon {
		t.Errorf("parked %s after the first attempt, before the horizon of %s", elapsed, horizon)
	}
	if n := d.s.Steps[1].CompAttempt; n <= maxComp {
		t.Errorf("parked after %d attempts, want more than the definition's %d", n, maxComp)
	}
	if !strings.Contains(d.s.Reason, "ReserveSeats") || !strings.Contains(d.s.Reason, "over ") {
		t.Errorf("reason %q, want the step and how long it was tried", d.s.Reason)
	}
}

// The horizon is measured from the log: every machine with the same
// horizon decides the same on the folded state, whatever time it was
// started at or recovered.
func TestCompensationHorizonDecidesFromTheLog(t *testing.T) {
	const horizon = 5 * time.Minute
	d := withHorizon(t, horizon, releasing...)
	for d.s.Status == saga.StatusCompensating && d.now.Sub(d.s.Steps[1].CompStartedAt) < horizon-time.Minute {
		timeout.do(d)
		wake.do(d)
	}
	// A recovered orchestrator folds the log and ticks at the deadline.
	s := fold(t, d.m, d.log)
	at := s.NextWake()
	a, errA := d.m.Decide(s, saga.Tick{}, at)
	b, errB := machine.WithCompensationHorizon(horizon).Decide(d.s, saga.Tick{}, at)
	if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
		t.Fatalf("the folded log decides %v (%v), the live state %v (%v)", summary(a), errA, summary(b), errB)
	}
}

// An answered failure of a compensation is the participant's verdict, not
// an outage: the definition's attempts bound it, horizon or not.
func TestAnsweredCompensationFailureParksAfterTheAttempts(t *testing.T) {
	d := withHorizon(t, time.Hour, releasing...)
	for i := 1; i < maxComp; i++ {
		retry("refund rejected").do(d)
		wake.do(d)
	}
	retry("refund rejected").do(d)
	if got := summary(d.last); !reflect.DeepEqual(got, []string{"CompensationFailed ReserveSeats 5", "SagaFailed", "SagaStuck failed"}) {
		t.Fatalf("the fifth refused release emitted %v", got)
	}
	if strings.Contains(d.s.Reason, "over ") || !strings.Contains(d.s.Reason, "5 attempts") {
		t.Errorf("reason %q", d.s.Reason)
	}
}

// Forward steps before the pivot keep their own attempts: a participant
// that does not answer a reservation makes the saga compensate as before.
func TestForwardTimeoutsStillCompensateWithAHorizon(t *testing.T) {
	d := withHorizon(t, 24*time.Hour, start(flows.BookTicket, bookData), ok(""))
	for i := 1; i < maxAttempt; i++ {
		timeout.do(d)
		wake.do(d)
	}
	timeout.do(d)
	if d.s.Status != saga.StatusCompensating || d.s.Steps[1].Status != saga.StepCompensating {
		t.Fatalf("after %d timed-out reservations: %s, %s", maxAttempt, d.s.Status, statuses(d.s))
	}
}

// An operator's resume of a parked saga grants a fresh horizon, counted
// from the resumed attempt.
func TestResumeGrantsAFreshHorizon(t *testing.T) {
	const horizon = 3 * time.Minute
	d := withHorizon(t, horizon, releasing...)
	for d.s.Status == saga.StatusCompensating {
		timeout.do(d)
		if d.s.Status == saga.StatusCompensating {
			wake.do(d)
		}
	}
	d.now = d.now.Add(time.Hour)
	resume.do(d)
	if st := d.s.Steps[1]; !st.CompStartedAt.Equal(d.now) {
		t.Fatalf("the resumed release counts its horizon from %s, want %s", st.CompStartedAt, d.now)
	}
	timeout.do(d)
	if d.s.Status != saga.StatusCompensating || d.s.Steps[1].RetryAt.IsZero() {
		t.Fatalf("the resumed release's first timeout parked the saga: %s", d.s.Status)
	}
}
