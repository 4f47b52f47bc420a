package saga

import (
	"fmt"
	"time"
)

// DefaultCompensationHorizon is how long an orchestrator keeps retrying a
// compensation that gets no reply before it parks the saga as failed: a
// participant's outage of up to a day is waited out, not handed to an
// operator.
const DefaultCompensationHorizon = 24 * time.Hour

// horizonMaxBackoff caps the wait between compensation attempts within the
// horizon when the definition's policy sets no cap of its own.
const horizonMaxBackoff = 5 * time.Minute

// WithCompensationHorizon returns a machine that retries a compensation
// whose attempts time out, beyond its definition's CompensationRetry
// attempts, until horizon has passed since the compensation's first
// attempt (the CompensationStarted time in the log, so that every
// orchestrator measures it alike); zero or less keeps to the definition's
// attempts. An answered failure of a compensation is the participant's
// verdict, not an outage: the definition's attempts bound it still.
func (m Machine) WithCompensationHorizon(horizon time.Duration) Machine {
	m.horizon = max(horizon, 0)
	return m
}

// CompensationHorizon is the machine's horizon (WithCompensationHorizon).
func (m Machine) CompensationHorizon() time.Duration { return m.horizon }

// compensationRetryAt is when the compensation of step i is tried again
// after its attempt failed, or zero when the saga must be parked. noReply
// says the attempt timed out rather than being answered.
func (d *decision) compensationRetryAt(i int, noReply bool) time.Time {
	st := d.s.Steps[i]
	p := d.def().CompensationRetry
	seed := d.s.SagaID + st.Name + "undo"
	// Each resume by an operator grants the policy's attempts again.
	if (st.CompAttempt-1)%p.MaxAttempts+1 < p.MaxAttempts {
		return d.now.Add(p.Delay(st.CompAttempt, seed))
	}
	if !noReply || d.m.horizon <= 0 || st.CompStartedAt.IsZero() || !d.now.Before(st.CompStartedAt.Add(d.m.horizon)) {
		return time.Time{}
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = horizonMaxBackoff
	}
	return d.now.Add(p.Delay(st.CompAttempt, seed))
}

// parkedReason is why a saga whose compensation of step i could not be
// done is parked.
func (d *decision) parkedReason(i int, reason string) string {
	st := d.s.Steps[i]
	if d.m.horizon > 0 && !st.CompStartedAt.IsZero() && d.now.Sub(st.CompStartedAt) >= d.m.horizon {
		return fmt.Sprintf("compensation of %s failed after %d attempts over %s: %s", st.Name, st.CompAttempt,
			d.now.Sub(st.CompStartedAt).Round(time.Second), reason)
	}
	return fmt.Sprintf("compensation of %s failed after %d attempts: %s", st.Name, st.CompAttempt, reason)
}
