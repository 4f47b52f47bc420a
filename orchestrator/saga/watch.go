package saga

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
)

// SLOMultiple is how many times its budget of timeouts and retries a step
// or a saga may take before the watchdog reports it stuck, when its
// definition sets no SLO: a saga that is merely unlucky with retries stays
// inside it, one whose participant is down for good does not.
const SLOMultiple = 2

// budget is the longest the policy's attempts of an action can take when
// every attempt times out: each attempt's timeout plus the waits between
// them (without jitter, which only shortens them).
func budget(timeout time.Duration, p RetryPolicy) time.Duration {
	total := time.Duration(max(p.MaxAttempts, 1)) * timeout
	for a := 1; a < p.MaxAttempts; a++ {
		d := p.Backoff
		for i := 1; i < a && (p.MaxBackoff == 0 || d < p.MaxBackoff); i++ {
			d *= 2
		}
		if p.MaxBackoff > 0 && d > p.MaxBackoff {
			d = p.MaxBackoff
		}
		total += d
	}
	return total
}

// StepSLO is how long step i may run, from its first attempt to its
// success: its own SLO when set, else SLOMultiple times its budget.
func (d Definition) StepSLO(i int) time.Duration {
	s := d.Steps[i]
	if s.SLO > 0 {
		return s.SLO
	}
	return SLOMultiple * budget(s.Timeout, s.Retry)
}

// SagaSLO is how long a saga of this definition may run before it ends:
// its SLO when set, else SLOMultiple times the budget of every step and
// every compensation, so that a saga that compensates in full is inside it.
func (d Definition) SagaSLO() time.Duration {
	if d.SLO > 0 {
		return d.SLO
	}
	var total time.Duration
	for _, s := range d.Steps {
		total += budget(s.Timeout, s.Retry)
		if s.Compensation != "" {
			total += budget(s.Timeout, d.CompensationRetry)
		}
	}
	return SLOMultiple * total
}

// slos are one definition's SLOs: the saga's and each step's, in order.
type slos struct {
	saga  time.Duration
	steps []time.Duration
}

// Overdue reports whether the watchdog has something to report about the
// saga at now: a tick then appends SagaStuck. A saga is reported once,
// until an operator resumes it.
func (m Machine) Overdue(s State, now time.Time) bool {
	_, ok := m.overdue(s, now)
	return ok
}

func (m Machine) overdue(s State, now time.Time) (events.SagaStuckV1, bool) {
	at, p := m.report(s)
	return p, !at.IsZero() && !now.Before(at)
}

// NextWake is State.NextWake with the watchdog's own time: the earliest
// at which a Tick has something to do, a report of the saga included.
func (m Machine) NextWake(s State) time.Time {
	w := s.NextWake()
	if t, _ := m.report(s); !t.IsZero() && (w.IsZero() || t.Before(w)) {
		w = t
	}
	return w
}

// report is the watchdog's next report of the saga and when it is due,
// unless the saga moves on first: a failed saga's at once, else the
// earliest of its SLO and its running steps' SLOs (a step's on a tie).
// The time is zero when there is nothing to report.
func (m Machine) report(s State) (time.Time, events.SagaStuckV1) {
	if !s.Started() {
		return time.Time{}, events.SagaStuckV1{}
	}
	if s.Status == StatusFailed {
		// Reported even when it was reported slow before: now it is parked.
		if s.Stuck == events.StuckFailed {
			return time.Time{}, events.SagaStuckV1{}
		}
		return s.UpdatedAt, events.SagaStuckV1{Reason: events.StuckFailed, Since: s.UpdatedAt}
	}
	sl, ok := m.load().slos[versionKeyOf(s)]
	if !ok || s.Stuck != "" || s.Status.Terminal() {
		return time.Time{}, events.SagaStuckV1{}
	}
	at := s.sloFrom().Add(sl.saga)
	p := events.SagaStuckV1{Reason: events.StuckSLO, SLO: sl.saga.String(), Since: s.sloFrom()}
	for i, st := range s.Steps {
		if st.Status != StepRunning || st.StartedAt.IsZero() || i >= len(sl.steps) {
			continue
		}
		if t := st.StartedAt.Add(sl.steps[i]); !t.After(at) {
			at = t
			p = events.SagaStuckV1{Reason: events.StuckSLO, Step: st.Name, SLO: sl.steps[i].String(), Since: st.StartedAt}
		}
	}
	return at, p
}

// sloFrom is when the saga's SLO started counting: at its start, or at
// the operator's resume that gave it another chance.
func (s State) sloFrom() time.Time {
	if s.ResumedAt.After(s.StartedAt) {
		return s.ResumedAt
	}
	return s.StartedAt
}

// watch appends SagaStuck when the saga is overdue.
func (d *decision) watch() {
	if p, ok := d.m.overdue(d.s, d.now); ok {
		d.emit(events.SagaStuck, p)
	}
}

// StuckNow reports whether the saga needs an operator now: reported stuck
// and not ended since, or ended as failed. A saga that was slow and then
// completed or compensated is no longer stuck, though its log says it was.
func (s State) StuckNow() bool {
	return s.Status == StatusFailed || (s.Stuck != "" && !s.Status.Terminal())
}

// WithSLOs returns the definitions with the SLOs an operator set: a key
// is a definition's name ("book-ticket") or a definition's step
// ("book-ticket.ChargePayment"). Every unknown name and every duration
// that is not positive is reported at once.
func (defs Definitions) WithSLOs(slos map[string]time.Duration) (Definitions, error) {
	out := make(Definitions, len(defs))
	for name, d := range defs {
		d.Steps = slices.Clone(d.Steps)
		out[name] = d
	}
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(slos)) {
		v := slos[key]
		name, step, _ := strings.Cut(key, ".")
		d, ok := out[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("SLO %s: no definition %q", key, name))
			continue
		case v <= 0:
			errs = append(errs, fmt.Errorf("SLO %s: %s is not a positive duration", key, v))
			continue
		case step == "":
			d.SLO = v
		default:
			i := slices.IndexFunc(d.Steps, func(s Step) bool { return s.Name == step })
			if i < 0 {
				errs = append(errs, fmt.Errorf("SLO %s: definition %s has no step %q", key, name, step))
				continue
			}
			d.Steps[i].SLO = v
		}
		out[name] = d
	}
	return out, errors.Join(errs...)
}
