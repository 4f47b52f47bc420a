package orchestrator

import (
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/metrics"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// record counts what one decision did: sagas started and ended, and the
// attempts of steps that ended (a step that was running in before and is
// not running the same attempt in after). It reads the event types and
// the two states only, decoding nothing.
func (o *Orchestrator) record(before, after saga.State, evs []events.Envelope, now time.Time) {
	m := o.cfg.Bus.Metrics
	if m == nil {
		return
	}
	outcome := ""
	for _, e := range evs {
		switch e.Type {
		case events.SagaStarted:
			m.SagaStarted(after.Definition)
		case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
			m.SagaEnded(after.Definition, string(after.Status))
		case events.StepSucceeded:
			outcome = metrics.OutcomeSucceeded
		case events.StepFailed:
			outcome = metrics.OutcomeFailed
		case events.StepTimedOut:
			outcome = metrics.OutcomeTimedOut
		}
	}
	if outcome == "" {
		return
	}
	for i, st := range before.Steps {
		if st.Status != saga.StepRunning || i >= len(after.Steps) {
			continue
		}
		if next := after.Steps[i]; next.Status == saga.StepRunning && next.Attempt == st.Attempt {
			continue
		}
		m.StepAttempt(after.Definition, st.Name, outcome, now.Sub(o.attemptStart(before, i)))
	}
}

// attemptStart is when the attempt of step i in flight in s started: its
// deadline less the step's timeout (the log keeps the deadline, not the
// start), or the step's first start when the definition is unknown.
func (o *Orchestrator) attemptStart(s saga.State, i int) time.Time {
	st := s.Steps[i]
	if d, ok := o.machine.Definition(s.Definition); ok && i < len(d.Steps) && d.Steps[i].Timeout > 0 && !st.Deadline.IsZero() {
		return st.Deadline.Add(-d.Steps[i].Timeout)
	}
	return st.StartedAt
}

// census counts the sagas of the partitions this orchestrator owns, by
// definition, for saga_sagas_running and saga_sagas_stuck; every
// definition it runs is reported, at 0 when it has none.
func (o *Orchestrator) census() map[string]metrics.SagaCount {
	out := make(map[string]metrics.SagaCount, len(o.cfg.Definitions))
	for name := range o.cfg.Definitions {
		out[name] = metrics.SagaCount{}
	}
	o.store.mu.RLock()
	defer o.store.mu.RUnlock()
	for _, sh := range o.store.shards {
		for _, s := range sh.running {
			n := out[s.Definition]
			if !s.Status.Terminal() {
				n.Running++
			}
			if s.StuckNow() {
				n.Stuck++
			}
			out[s.Definition] = n
		}
	}
	return out
}
