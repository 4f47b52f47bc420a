package saga

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sagaflow/saga/events"
)

// Machine runs saga definitions: Apply and Decide are its two pure functions.
type Machine struct {
	// cat is every definition version the machine knows, with each one's
	// SLOs worked out once (the watchdog asks on every tick); copies of a
	// machine share it, and Add swaps it whole.
	cat *atomic.Pointer[catalog]
	// fixed, when set, is the catalog of one decision: it sees one
	// catalog from start to end.
	fixed *catalog
	// horizon is how long compensations that get no reply are retried
	// (WithCompensationHorizon); zero keeps to the definitions' attempts.
	horizon time.Duration
}

func (m Machine) load() *catalog {
	if m.fixed != nil {
		return m.fixed
	}
	return m.cat.Load()
}

// NewMachine returns a machine for the given definitions.
func NewMachine(defs Definitions) Machine {
	return Machine{cat: newCatalog(defs)}
}

// Definition returns the named definition new sagas start on.
func (m Machine) Definition(name string) (Definition, bool) {
	d, ok := m.load().current[name]
	return d, ok
}

// Input is what Decide reacts to: Start, Reply or Tick.
type Input interface{ input() }

// Start asks for a new saga; a saga that exists already ignores it.
type Start struct {
	Request events.Envelope
	Payload events.StartSagaV1
}

// Reply is a participant's answer to a command.
type Reply struct {
	Envelope events.Envelope
	Payload  events.StepReplyV1
	// Signer is the principal whose signature the reply carries; empty
	// when signatures are not checked.
	Signer string
}

// Tick lets time act: deadlines pass and scheduled retries start.
type Tick struct{}

// Resume is an operator's retry of a failed saga: the compensation that
// failed starts again, with a fresh allowance of attempts.
type Resume struct {
	Request events.Envelope
	Reason  string
}

func (Start) input()  {}
func (Reply) input()  {}
func (Tick) input()   {}
func (Resume) input() {}

// Decide returns the events to append to the saga's log for an input at
// time now. Applying them in order with Apply gives the saga's next state;
// an empty result means the input changes nothing (a duplicate, a late
// reply, a tick with nothing due). Errors are events.MalformedError: the
// input can never be processed.
func (m Machine) Decide(s State, in Input, now time.Time) ([]events.Envelope, error) {
	d, err := m.decide(s, in, now)
	if err != nil {
		return nil, err
	}
	return d.out, nil
}

// Decision is what Next decided: the events to append, the state they
// lead to, and the commands they ask for, in order.
type Decision struct {
	Events   []events.Envelope
	State    State
	Commands []Outgoing
}

// Next is Decide with what the runtime needs next: the state after the
// events (Decide has folded them already) and their commands.
func (m Machine) Next(s State, in Input, now time.Time) (Decision, error) {
	d, err := m.decide(s, in, now)
	if err != nil {
		return Decision{}, err
	}
	return Decision{Events: d.out, State: d.s, Commands: d.cmds}, nil
}

func (m Machine) decide(s State, in Input, now time.Time) (*decision, error) {
	m.fixed = m.load()
	d := &decision{m: m, cat: m.fixed, s: s, now: now.UTC()}
	switch in := in.(type) {
	case Start:
		if s.Started() {
			return d, nil
		}
		if err := d.start(in); err != nil {
			return nil, err
		}
	case Reply:
		if err := m.answers(s, in); err != nil {
			return nil, err
		}
		if s.Status.Terminal() {
			return d, nil
		}
		d.cause = in.Envelope.ID
		d.reply(in.Payload)
	case Tick:
		if s.Status == StatusFailed {
			// A saga parked before the watchdog existed is reported too.
			d.cause = events.SagaEventID(s.SagaID, s.Seq)
			d.watch()
			return d, d.err
		}
		if !s.Started() || s.Status.Terminal() {
			return d, nil
		}
		d.cause = events.SagaEventID(s.SagaID, s.Seq)
		d.tick()
	case Resume:
		if s.Status != StatusFailed {
			return d, nil // only a failed saga waits for an operator
		}
		d.cause = in.Request.ID
		d.resume(in.Request.Actor, in.Reason)
	default:
		return nil, fmt.Errorf("unknown input %T", in)
	}
	if d.err != nil {
		return nil, d.err
	}
	d.advance()
	if _, ok := in.(Tick); ok {
		d.watch()
	}
	if d.err != nil {
		return nil, d.err
	}
	return d, nil
}

// decision accumulates the events of one Decide call, applying each as it
// is emitted so that later choices see the state the log will hold.
type decision struct {
	m     Machine
	cat   *catalog
	s     State
	now   time.Time
	cause string
	out   []events.Envelope
	cmds  []Outgoing
	err   error
}

// def is the definition version the saga started on.
func (d *decision) def() Definition {
	def, _ := d.cat.pinned(d.s.Definition, d.s.DefinitionVersion)
	return def
}

func (d *decision) emit(typ events.Type, payload any) { d.emitAs(d.s.Actor, typ, payload) }

// emitAs emits an event that someone other than the saga's owner caused,
// such as an operator's resume, so its record names who acted.
func (d *decision) emitAs(actor string, typ events.Type, payload any) {
	if d.err != nil {
		return
	}
	trace := events.Trace{SagaID: d.s.SagaID, CorrelationID: d.s.BookingRef, CausationID: d.cause, Actor: actor}
	e := events.MustNew(events.SagaEventID(d.s.SagaID, d.s.Seq+1), typ, payload, trace, d.s.SagaID, d.now)
	// What Apply would find decoding the event: an invalid payload (from
	// a request's data) is malformed.
	if v, ok := payload.(events.Validator); ok {
		if err := v.Validate(); err != nil {
			d.err = events.Malformed("invalid %T: %v", payload, err)
			return
		}
	}
	next, err := d.m.apply(d.s, e, payload)
	if err != nil {
		d.err = err
		return
	}
	d.s, d.out = next, append(d.out, e)
	if p, ok := payload.(events.StepStartedV1); ok {
		d.cmds = append(d.cmds, commandFor(d.def(), next, p, typ == events.CompensationStarted, e.ID, e.OccurredAt))
	}
}

func (d *decision) start(in Start) error {
	p := in.Payload
	def, ok := d.cat.current[p.Definition]
	if !ok {
		return fmt.Errorf("%w: %w", ErrUnknownDefinition, events.Malformed("unknown saga definition %q", p.Definition))
	}
	sagaID := events.SagaIDFor(p.IdempotencyKey)
	if in.Request.SagaID != "" && in.Request.SagaID != sagaID {
		return events.Malformed("saga_id %q does not match the idempotency key (want %q)", in.Request.SagaID, sagaID)
	}
	if def.ValidateData != nil {
		if err := def.ValidateData(p.Data); err != nil {
			return events.Malformed("invalid %s request: %v", p.Definition, err)
		}
	}
	if def.RefFromSagaID && p.IdempotencyKey != "" && p.BookingRef != events.BookingRefFor(sagaID) {
		return events.Malformed("booking_ref %q is not the one of saga %s (want %q)", p.BookingRef, sagaID, events.BookingRefFor(sagaID))
	}
	d.s = State{SagaID: sagaID, BookingRef: p.BookingRef, Actor: in.Request.Actor}
	d.cause = in.Request.ID
	d.emit(events.SagaStarted, events.SagaStartedV1{Definition: p.Definition, DefinitionVersion: def.Version, DefinitionSpec: def.Spec,
		IdempotencyKey: p.IdempotencyKey, BookingRef: p.BookingRef, Data: p.Data})
	return d.err
}

func (d *decision) reply(r events.StepReplyV1) {
	i := d.awaiting(r.CommandID)
	if i < 0 {
		return // a duplicate or late reply: its attempt is already settled
	}
	st, step := d.s.Steps[i], d.def().Steps[i]
	if st.Status == StepCompensating {
		if r.Outcome == events.OutcomeSucceeded {
			d.emit(events.StepCompensated, events.StepSucceededV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.CompAttempt}, Result: r.Data})
			return
		}
		d.compensationFailed(i, r.Reason, false)
		return
	}
	switch {
	case r.Outcome == events.OutcomeSucceeded:
		d.emit(events.StepSucceeded, events.StepSucceededV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.Attempt}, Result: r.Data})
	case r.Outcome == events.OutcomeRetryable || d.pastPivot(i):
		d.emit(events.StepFailed, events.StepFailedV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.Attempt},
			Reason: r.Reason, RetryAt: d.retryAt(i, step.Retry, st.Attempt)})
	default:
		d.emit(events.StepFailed, events.StepFailedV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.Attempt}, Reason: r.Reason})
	}
}

// awaiting returns the step whose in-flight command is id, or -1.
func (d *decision) awaiting(id string) int {
	for i, st := range d.s.Steps {
		if id != "" && st.CommandID == id {
			return i
		}
	}
	return -1
}

// pastPivot reports whether step i comes after a pivot that succeeded: such
// a step only goes forward and is retried until it succeeds.
func (d *decision) pastPivot(i int) bool {
	for j := 0; j < i; j++ {
		if d.def().Steps[j].Pivot && d.s.Steps[j].Status == StepSucceeded {
			return true
		}
	}
	return false
}

// retryAt is when the attempt after attempt starts, or zero when the policy
// is used up. Steps past the pivot always retry.
func (d *decision) retryAt(i int, p RetryPolicy, attempt int) time.Time {
	if attempt >= p.MaxAttempts && !d.pastPivot(i) {
		return time.Time{}
	}
	return d.now.Add(p.Delay(attempt, d.s.SagaID+d.s.Steps[i].Name))
}

func (d *decision) compensationFailed(i int, reason string, noReply bool) {
	st := d.s.Steps[i]
	retry := d.compensationRetryAt(i, noReply)
	parked := d.parkedReason(i, reason)
	d.emit(events.CompensationFailed, events.StepFailedV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.CompAttempt}, Reason: reason, RetryAt: retry})
	if retry.IsZero() {
		d.emit(events.SagaFailed, events.SagaEndedV1{Reason: parked})
		d.watch() // parked: an operator must act
	}
}

// resume restarts the compensation whose retries ran out. Its attempts
// keep counting, so the command ids stay new and the participant can tell
// an operator's retry from the ones before. The SagaResumed record names
// the operator who resumed it; the commands that follow act for the saga's
// owner as before.
func (d *decision) resume(actor, reason string) {
	if reason == "" {
		reason = "resumed by an operator"
	}
	if actor == "" {
		actor = d.s.Actor
	}
	d.emitAs(actor, events.SagaResumed, events.SagaEndedV1{Reason: reason})
	for i, st := range d.s.Steps {
		if st.Status == StepCompensating && st.CommandID == "" {
			d.startCompensation(i, st.CompAttempt+1)
			return
		}
	}
}

// tick handles passed deadlines and due retries.
func (d *decision) tick() {
	for i := range d.s.Steps {
		st, step := d.s.Steps[i], d.def().Steps[i]
		switch {
		case st.CommandID != "" && !d.now.Before(st.Deadline) && st.Status == StepRunning:
			retry := d.retryAt(i, step.Retry, st.Attempt)
			if retry.IsZero() && step.Pivot {
				// The pivot may have taken effect, and nothing undoes it: an
				// unknown outcome is asked again until the answer comes.
				retry = d.now.Add(step.Retry.Delay(st.Attempt, d.s.SagaID+st.Name))
			}
			d.emit(events.StepTimedOut, events.StepFailedV1{StepV1: events.StepV1{Step: st.Name, Attempt: st.Attempt},
				Reason: fmt.Sprintf("no reply within %s", step.Timeout), RetryAt: retry})
		case st.CommandID != "" && !d.now.Before(st.Deadline) && st.Status == StepCompensating:
			d.compensationFailed(i, fmt.Sprintf("no reply within %s", step.Timeout), true)
		case st.CommandID == "" && !st.RetryAt.IsZero() && !d.now.Before(st.RetryAt) && st.Status == StepRunning:
			d.startStep(i, st.Attempt+1)
		case st.CommandID == "" && !st.RetryAt.IsZero() && !d.now.Before(st.RetryAt) && st.Status == StepCompensating:
			d.startCompensation(i, st.CompAttempt+1)
		}
	}
}

// advance starts whatever comes next once nothing is in flight: the next
// step, the next compensation in reverse order, or the saga's end.
func (d *decision) advance() {
	for d.err == nil && !d.s.Status.Terminal() {
		switch d.s.Status {
		case StatusRunning:
			i := 0
			for i < len(d.s.Steps) && d.s.Steps[i].Status == StepSucceeded {
				i++
			}
			if i == len(d.s.Steps) {
				d.emit(events.SagaCompleted, events.SagaEndedV1{})
				continue
			}
			if d.s.Steps[i].Status == StepPending {
				d.startStep(i, 1)
			}
			return
		case StatusCompensating:
			for _, st := range d.s.Steps {
				if st.Status == StepCompensating || st.Status == StepRunning {
					return // an action is in flight or waiting for its retry
				}
			}
			j := d.nextToCompensate()
			if j < 0 {
				d.emit(events.SagaCompensated, events.SagaEndedV1{Reason: d.s.Reason})
				continue
			}
			d.startCompensation(j, 1)
			return
		default:
			return // a status Decide does not know: nothing to start
		}
	}
}

// nextToCompensate is the last step that had, or may have had, an effect
// and is not undone yet: compensations run in reverse order.
func (d *decision) nextToCompensate() int {
	for j := len(d.s.Steps) - 1; j >= 0; j-- {
		st := d.s.Steps[j]
		if d.def().Steps[j].Compensation == "" {
			continue
		}
		if st.Status == StepSucceeded || (st.Status == StepFailedStatus && st.Uncertain) {
			return j
		}
	}
	return -1
}

func (d *decision) startStep(i, attempt int) {
	step := d.def().Steps[i]
	d.emit(events.StepStarted, events.StepStartedV1{StepV1: events.StepV1{Step: step.Name, Attempt: attempt},
		CommandID: events.CommandID(d.s.SagaID, step.Name, false, attempt), Command: step.Command, Deadline: d.now.Add(step.Timeout)})
}

func (d *decision) startCompensation(i, attempt int) {
	step := d.def().Steps[i]
	d.emit(events.CompensationStarted, events.StepStartedV1{StepV1: events.StepV1{Step: step.Name, Attempt: attempt},
		CommandID: events.CommandID(d.s.SagaID, step.Name, true, attempt), Command: step.Compensation, Deadline: d.now.Add(step.Timeout)})
}

// Outgoing is a command to send: the topic and the envelope.
type Outgoing struct {
	Topic    string
	Envelope events.Envelope
}

// Command returns the command a StepStarted or CompensationStarted event
// asks for, built from the state right after that event. The runtime sends
// it after the event is in the log, and sends it again after a restart
// while the step is still in flight: its id is the same every time.
func (m Machine) Command(s State, e events.Envelope) (Outgoing, bool) {
	if e.Type != events.StepStarted && e.Type != events.CompensationStarted {
		return Outgoing{}, false
	}
	def, ok := m.Pinned(s)
	if !ok {
		return Outgoing{}, false
	}
	p := events.MustDecode[events.StepStartedV1](e)
	return commandFor(def, s, p, e.Type == events.CompensationStarted, e.ID, e.OccurredAt), true
}

// InFlight returns the commands a saga awaits replies to, for re-sending
// after a restart (the participants recognise them by id).
func (m Machine) InFlight(s State, now time.Time) []Outgoing {
	def, ok := m.Pinned(s)
	if !ok {
		return nil
	}
	var out []Outgoing
	for _, st := range s.Steps {
		if st.CommandID == "" {
			continue
		}
		step, ok := def.step(st.Name)
		if !ok {
			continue
		}
		comp := st.Status == StepCompensating
		attempt, cmd := st.Attempt, step.Command
		if comp {
			attempt, cmd = st.CompAttempt, step.Compensation
		}
		p := events.StepStartedV1{StepV1: events.StepV1{Step: st.Name, Attempt: attempt}, CommandID: st.CommandID, Command: cmd}
		out = append(out, commandFor(def, s, p, comp, events.SagaEventID(s.SagaID, s.Seq), now))
	}
	return out
}

// commandFor builds the command of a step attempt of the definition
// version the saga runs; the step is found by its name.
func commandFor(def Definition, s State, p events.StepStartedV1, comp bool, cause string, at time.Time) Outgoing {
	step, _ := def.step(p.Step)
	key := s.SagaID
	if step.KeyField != "" {
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(s.Data, &fields)
		var v string
		if json.Unmarshal(fields[step.KeyField], &v) == nil && v != "" {
			key = v
		}
	}
	trace := events.Trace{SagaID: s.SagaID, CorrelationID: s.BookingRef, CausationID: cause, Actor: s.Actor}
	var secrets []string
	if !comp {
		secrets = step.Secrets
	}
	data := events.WithoutSecrets(s.Data, secrets...)
	env := events.MustNew(p.CommandID, p.Command, events.CommandV1{Step: p.Step, Attempt: p.Attempt, Compensation: comp, Data: data}, trace, key, at)
	return Outgoing{Topic: events.CommandTopic(step.Service), Envelope: env}
}
