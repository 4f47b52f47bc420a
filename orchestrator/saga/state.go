package saga

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
)

// Status is where a saga stands.
type Status string

// Saga statuses: running forward, running its compensations, and the
// three ends.
const (
	StatusRunning      Status = "running"
	StatusCompensating Status = "compensating"
	StatusCompleted    Status = "completed"
	StatusCompensated  Status = "compensated"
	// StatusFailed means a compensation could not be done: an operator must act.
	StatusFailed Status = "failed"
)

// Terminal reports whether the saga has ended.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusCompensated || s == StatusFailed
}

// StepStatus is where one step stands.
type StepStatus string

// Step statuses, from pending to succeeded, or on to compensated.
const (
	StepPending      StepStatus = "pending"
	StepRunning      StepStatus = "running"
	StepSucceeded    StepStatus = "succeeded"
	StepFailedStatus StepStatus = "failed"
	StepCompensating StepStatus = "compensating"
	StepCompensatedS StepStatus = "compensated"
	StepSkipped      StepStatus = "skipped"
)

// StepState is the folded history of one step.
type StepState struct {
	Name   string
	Status StepStatus
	// Attempt is the attempt of the action in flight or last made;
	// CompAttempt the same for the compensation.
	Attempt     int
	CompAttempt int
	// CommandID is the command whose reply is awaited; empty when none is.
	CommandID string
	Deadline  time.Time
	// RetryAt is when the next attempt starts; zero when none is scheduled.
	RetryAt time.Time
	// Uncertain marks a step one of whose attempts timed out: that attempt
	// may have had its effect, so the step is compensated like one that
	// succeeded, even if a later attempt was refused.
	Uncertain bool
	StartedAt time.Time
	EndedAt   time.Time
	Reason    string
	// CompStartedAt is when the first attempt of the step's compensation
	// started (since an operator's last resume): a compensation that
	// gets no reply is retried until the machine's horizon past it.
	CompStartedAt time.Time
}

// State is a saga folded from its log.
type State struct {
	SagaID     string
	Definition string
	// DefinitionVersion is the version of the definition the saga started
	// on: it decides and replays by that one, whatever is current.
	DefinitionVersion string
	BookingRef        string
	IdempotencyKey    string
	Actor             string
	Status            Status
	// Data is the start request's data merged with every step's result.
	Data      json.RawMessage
	Steps     []StepState
	Seq       int
	StartedAt time.Time
	UpdatedAt time.Time
	Reason    string
	// Stuck is why the watchdog reported the saga (events.StuckSLO or
	// events.StuckFailed), empty when it has not since the saga started
	// or an operator last resumed it; StuckStep is the step whose SLO it
	// ran past, and StuckAt when it was reported.
	Stuck     string
	StuckStep string
	StuckAt   time.Time
	// ResumedAt is when an operator last resumed the saga: its SLO counts
	// from then.
	ResumedAt time.Time
}

// Started reports whether the saga exists in the log.
func (s State) Started() bool { return s.Seq > 0 }

// step returns the index of the named step, or -1.
func (s State) step(name string) int {
	for i := range s.Steps {
		if s.Steps[i].Name == name {
			return i
		}
	}
	return -1
}

// NextWake is the earliest time at which Decide has something to do with
// a Tick: a deadline or a scheduled retry. Zero when nothing is pending.
func (s State) NextWake() time.Time {
	var w time.Time
	if s.Status.Terminal() {
		return w
	}
	for _, st := range s.Steps {
		for _, t := range []time.Time{st.RetryAt, st.Deadline} {
			if !t.IsZero() && (w.IsZero() || t.Before(w)) {
				w = t
			}
		}
	}
	return w
}

// Apply folds one saga log event into the state. It is total over valid
// events: an event that does not fit the state is an error, which means
// the log was written by something other than Decide.
func (m Machine) Apply(s State, e events.Envelope) (State, error) {
	p, err := payloadOf(e)
	if err != nil {
		return s.clone(), err
	}
	return m.apply(s, e, p)
}

// payloadOf decodes a saga log event's payload into its type.
func payloadOf(e events.Envelope) (any, error) {
	switch e.Type {
	case events.SagaStarted:
		return events.Decode[events.SagaStartedV1](e)
	case events.StepStarted, events.CompensationStarted:
		return events.Decode[events.StepStartedV1](e)
	case events.StepSucceeded, events.StepCompensated:
		return events.Decode[events.StepSucceededV1](e)
	case events.StepFailed, events.StepTimedOut, events.CompensationFailed:
		return events.Decode[events.StepFailedV1](e)
	case events.SagaCompleted, events.SagaCompensated, events.SagaFailed, events.SagaResumed:
		return events.Decode[events.SagaEndedV1](e)
	case events.SagaStuck:
		return events.Decode[events.SagaStuckV1](e)
	}
	return nil, fmt.Errorf("saga %s: %s is not a saga log event", e.SagaID, e.Type)
}

// apply is Apply with the payload already decoded (Decide applies the
// events it emits from the values it encoded them from).
func (m Machine) apply(s State, e events.Envelope, payload any) (State, error) {
	s = s.clone()
	if e.Type != events.SagaStarted && !s.Started() {
		return s, fmt.Errorf("%s before SagaStarted in saga %s", e.Type, e.SagaID)
	}
	if s.Status.Terminal() && !((e.Type == events.SagaResumed || e.Type == events.SagaStuck) && s.Status == StatusFailed) {
		return s, fmt.Errorf("%s after the end of saga %s", e.Type, e.SagaID)
	}
	at := e.OccurredAt
	switch e.Type {
	case events.SagaStarted:
		if s.Started() {
			return s, fmt.Errorf("saga %s: SagaStarted in a saga that has started", e.SagaID)
		}
		p := payload.(events.SagaStartedV1)
		if err := m.learn(p); err != nil {
			return s, fmt.Errorf("saga %s: %w", e.SagaID, err)
		}
		def, err := m.load().pinned(p.Definition, p.DefinitionVersion)
		if err != nil {
			return s, fmt.Errorf("saga %s: %w", e.SagaID, err)
		}
		s = State{SagaID: e.SagaID, Definition: p.Definition, DefinitionVersion: def.Version, BookingRef: p.BookingRef,
			IdempotencyKey: p.IdempotencyKey, Actor: e.Actor, Status: StatusRunning,
			Data: mergeObject(p.Data, json.RawMessage(fmt.Sprintf(`{"booking_ref":%q}`, p.BookingRef))), StartedAt: at}
		for _, st := range def.Steps {
			s.Steps = append(s.Steps, StepState{Name: st.Name, Status: StepPending})
		}
	case events.StepStarted, events.CompensationStarted:
		p := payload.(events.StepStartedV1)
		st, err := s.stepRef(p.Step)
		if err != nil {
			return s, err
		}
		st.CommandID, st.Deadline, st.RetryAt = p.CommandID, p.Deadline, time.Time{}
		if e.Type == events.StepStarted {
			st.Status, st.Attempt = StepRunning, p.Attempt
			if p.Attempt == 1 {
				st.StartedAt = at
			}
		} else {
			st.Status, st.CompAttempt = StepCompensating, p.Attempt
			if st.CompStartedAt.IsZero() {
				st.CompStartedAt = at
			}
		}
	case events.StepSucceeded, events.StepCompensated:
		p := payload.(events.StepSucceededV1)
		st, err := s.stepRef(p.Step)
		if err != nil {
			return s, err
		}
		st.CommandID, st.Deadline, st.RetryAt, st.EndedAt, st.Reason = "", time.Time{}, time.Time{}, at, ""
		if e.Type == events.StepSucceeded {
			st.Status, st.Uncertain = StepSucceeded, false
			if len(p.Result) > 0 {
				s.Data = mergeObject(s.Data, p.Result)
			}
		} else {
			st.Status = StepCompensatedS
		}
	case events.StepFailed, events.StepTimedOut, events.CompensationFailed:
		p := payload.(events.StepFailedV1)
		st, err := s.stepRef(p.Step)
		if err != nil {
			return s, err
		}
		st.CommandID, st.Deadline, st.RetryAt, st.Reason = "", time.Time{}, p.RetryAt, p.Reason
		if e.Type == events.StepTimedOut {
			st.Uncertain = true
		}
		if e.Type != events.CompensationFailed && p.RetryAt.IsZero() {
			// The step has failed for good: undo what came before it.
			st.Status, st.EndedAt = StepFailedStatus, at
			s.Status, s.Reason = StatusCompensating, fmt.Sprintf("%s failed: %s", p.Step, p.Reason)
			for i := range s.Steps {
				if s.Steps[i].Status == StepPending {
					s.Steps[i].Status = StepSkipped
				}
			}
		}
	case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
		p := payload.(events.SagaEndedV1)
		s.Status = map[events.Type]Status{events.SagaCompleted: StatusCompleted,
			events.SagaCompensated: StatusCompensated, events.SagaFailed: StatusFailed}[e.Type]
		if p.Reason != "" {
			s.Reason = p.Reason
		}
		for i := range s.Steps {
			st := &s.Steps[i]
			st.Deadline, st.RetryAt, st.CommandID = time.Time{}, time.Time{}, ""
			if st.Status == StepPending {
				st.Status = StepSkipped
			}
		}
	case events.SagaResumed:
		if s.Status != StatusFailed {
			return s, fmt.Errorf("saga %s: SagaResumed while %s", e.SagaID, s.Status)
		}
		// Back to compensating: Decide starts the failed compensation again.
		// The saga compensates for the step that failed, as before it was
		// parked, not for the compensation that could not be done.
		s.Status = StatusCompensating
		s.Stuck, s.StuckStep, s.StuckAt, s.ResumedAt = "", "", time.Time{}, at
		for i, st := range s.Steps {
			if st.Status == StepFailedStatus {
				s.Reason = fmt.Sprintf("%s failed: %s", st.Name, st.Reason)
			}
			if st.Status == StepCompensating {
				s.Steps[i].CompStartedAt = time.Time{} // a fresh horizon from the resumed attempt
			}
		}
	case events.SagaStuck:
		p := payload.(events.SagaStuckV1)
		if s.Stuck == events.StuckFailed || (s.Stuck != "" && p.Reason != events.StuckFailed) {
			return s, fmt.Errorf("saga %s: SagaStuck (%s) after SagaStuck (%s) without a resume between", e.SagaID, p.Reason, s.Stuck)
		}
		s.Stuck, s.StuckStep, s.StuckAt = p.Reason, p.Step, at
	default:
		return s, fmt.Errorf("saga %s: %s is not a saga log event", e.SagaID, e.Type)
	}
	s.Seq++
	s.UpdatedAt = at
	return s, nil
}

func (s *State) stepRef(name string) (*StepState, error) {
	i := s.step(name)
	if i < 0 {
		return nil, fmt.Errorf("saga %s has no step %q", s.SagaID, name)
	}
	return &s.Steps[i], nil
}

// clone copies the step slice so that states stay values: a caller's old
// state is never changed by a later Apply.
func (s State) clone() State {
	s.Steps = append([]StepState(nil), s.Steps...)
	return s
}

// mergeObject returns base with the top-level fields of add set on it.
// Both must be JSON objects; Decide and the registry make sure they are.
// The result is what json.Marshal writes for the merged fields as a map:
// keys sorted, values compacted, HTML characters escaped. mergeFields
// writes it without the map for the objects the product makes; anything
// else goes through the map.
func mergeObject(base, add json.RawMessage) json.RawMessage {
	if out, ok := mergeFields(base, add); ok {
		return out
	}
	return mergeByMap(base, add)
}

// mergeByMap is mergeObject through a map and json.Marshal.
func mergeByMap(base, add json.RawMessage) json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(base, &m)
	extra := map[string]json.RawMessage{}
	_ = json.Unmarshal(add, &extra)
	for k, v := range extra {
		m[k] = v
	}
	out, _ := json.Marshal(m)
	return out
}
