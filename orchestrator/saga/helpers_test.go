package saga_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// The machine every test runs: the shipped definitions.
var machine = saga.NewMachine(flows.All())

// t0 is the time every scripted saga starts at.
var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

const (
	actor      = "user-42"
	idemKey    = "req-0001"
	stepTO     = 10 * time.Second // the shipped step timeout
	maxAttempt = 3                // the shipped forward retry policy
	maxComp    = 5                // the shipped compensation retry policy
)

var (
	bookData   = `{"user_id":"u-1","show_id":"show-7","seats":2,"payment_token":"tok_visa"}`
	cancelData = `{"booking_ref":"BK-OLD","user_id":"u-1","show_id":"show-7","seats":2}`
)

// startFor builds the Start input of a request, as the runtime hands it over
// after events.Check: saga id and correlation id derived from the key.
func startFor(def, key, data string) saga.Start {
	sagaID := events.SagaIDFor(key)
	// A booking's reference derives from its saga; a cancellation carries
	// the reference of the booking it cancels (as client.Cancel does).
	ref := events.BookingRefFor(sagaID)
	var d events.BookingData
	if json.Unmarshal([]byte(data), &d) == nil && d.BookingRef != "" {
		ref = d.BookingRef
	}
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: json.RawMessage(data)}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: p.BookingRef, Actor: actor}, key, t0)
	return saga.Start{Request: req, Payload: p}
}

// driver feeds inputs to the machine at a controlled clock, folds what
// Decide emits and checks the invariants of the log after every input.
type driver struct {
	t   testing.TB
	m   saga.Machine
	now time.Time
	s   saga.State
	// log is every event Decide emitted, in order; last those of the last input.
	log  []events.Envelope
	last []events.Envelope
	// replies is every reply fed, for duplicates.
	replies []saga.Reply
	// refold re-folds the whole log from State{} after every input.
	refold bool
}

func newDriver(t testing.TB) *driver {
	return &driver{t: t, m: machine, now: t0, refold: true}
}

// feed runs one input through Decide, folds the events and checks the log.
func (d *driver) feed(in saga.Input) []events.Envelope {
	d.t.Helper()
	out, err := d.m.Decide(d.s, in, d.now)
	if err != nil {
		d.t.Fatalf("Decide(%T) at %s: %v", in, d.now.Format(time.RFC3339Nano), err)
	}
	next, nextErr := d.m.Next(d.s, in, d.now)
	var cmds []saga.Outgoing
	for _, e := range out {
		next, err := d.m.Apply(d.s, e)
		if err != nil {
			d.t.Fatalf("Apply(%s) of an event Decide emitted: %v", e.Type, err)
		}
		d.s = next
		if c, ok := d.m.Command(d.s, e); ok {
			cmds = append(cmds, c)
		}
	}
	// Next is Decide with the fold and the commands done: the same events,
	// the state Apply reaches, and the commands Command gives.
	if nextErr != nil || !reflect.DeepEqual(next.Events, out) || (len(out) > 0 && !reflect.DeepEqual(next.State, d.s)) ||
		!reflect.DeepEqual(next.Commands, cmds) {
		d.t.Fatalf("Next(%T) differs from Decide, Apply and Command (err %v):\nnext:   %+v\nevents: %v\nstate:  %+v\ncmds:   %+v",
			in, nextErr, next, summary(out), d.s, cmds)
	}
	d.log = append(d.log, out...)
	d.last = out
	if r, ok := in.(saga.Reply); ok {
		d.replies = append(d.replies, r)
	}
	d.checkEnvelopes(out, len(d.log)-len(out))
	d.checkShape()
	if d.refold {
		if got := fold(d.t, d.m, d.log); !reflect.DeepEqual(got, d.s) {
			d.t.Fatalf("fold(log) differs from the state Decide ended in:\nfold:  %+v\nstate: %+v", got, d.s)
		}
	}
	// Feeding the same input again at the same time changes nothing: a
	// redelivered request, reply or tick is harmless.
	if again, err := d.m.Decide(d.s, in, d.now); err != nil || len(again) != 0 {
		d.t.Fatalf("the same %T fed twice: second Decide emitted %v (err %v)", in, summary(again), err)
	}
	return out
}

// checkEnvelopes checks the identity and trace of events first..: ids are
// SagaEventID(saga, seq), seq grows by one, trace and key are the saga's.
func (d *driver) checkEnvelopes(out []events.Envelope, first int) {
	d.t.Helper()
	for i, e := range out {
		seq := first + i + 1
		if want := events.SagaEventID(d.s.SagaID, seq); e.ID != want {
			d.t.Fatalf("event %d (%s) id = %s, want SagaEventID(saga, %d) = %s", seq, e.Type, e.ID, seq, want)
		}
		if e.SagaID != d.s.SagaID || e.Key != d.s.SagaID {
			d.t.Fatalf("event %d (%s): saga_id %q key %q, want both %q", seq, e.Type, e.SagaID, e.Key, d.s.SagaID)
		}
		if e.CorrelationID != d.s.BookingRef || e.CorrelationID == "" {
			d.t.Fatalf("event %d (%s): correlation id %q, want booking ref %q", seq, e.Type, e.CorrelationID, d.s.BookingRef)
		}
		// Every record acts for the saga's owner, except an operator's
		// resume, which names the operator.
		if want := actor; e.Actor != want && (e.Type != events.SagaResumed || e.Actor != "operator") {
			d.t.Fatalf("event %d (%s): actor %q, want %q", seq, e.Type, e.Actor, actor)
		}
		if e.CausationID == "" {
			d.t.Fatalf("event %d (%s) has no causation id", seq, e.Type)
		}
		if !e.OccurredAt.Equal(d.now) {
			d.t.Fatalf("event %d (%s) occurred at %s, want the decision time %s", seq, e.Type, e.OccurredAt, d.now)
		}
		if e.Version != events.CurrentVersion(e.Type) {
			d.t.Fatalf("event %d (%s) version %d", seq, e.Type, e.Version)
		}
		if _, err := events.Check(e); err != nil {
			d.t.Fatalf("event %d (%s) does not pass events.Check: %v", seq, e.Type, err)
		}
	}
	if d.s.Started() && d.s.Seq != len(d.log) {
		d.t.Fatalf("state seq %d, log has %d events", d.s.Seq, len(d.log))
	}
}

// checkShape checks invariants of a single state.
func (d *driver) checkShape() {
	d.t.Helper()
	s := d.s
	if !s.Started() {
		return
	}
	busy := 0
	for _, st := range s.Steps {
		if st.Status == saga.StepRunning || st.Status == saga.StepCompensating {
			busy++
		}
		if st.CommandID == "" {
			continue
		}
		comp := st.Status == saga.StepCompensating
		attempt := st.Attempt
		if comp {
			attempt = st.CompAttempt
		}
		if want := events.CommandID(s.SagaID, st.Name, comp, attempt); st.CommandID != want {
			d.t.Fatalf("step %s (%s, attempt %d) awaits command %s, want the derived id %s", st.Name, st.Status, attempt, st.CommandID, want)
		}
		if !st.RetryAt.IsZero() {
			d.t.Fatalf("step %s has a command in flight and a retry scheduled", st.Name)
		}
	}
	if s.Status.Terminal() {
		busy = 0 // a failed saga parks its compensating step
		if !s.NextWake().IsZero() || len(d.m.InFlight(s, d.now)) != 0 {
			d.t.Fatalf("terminal saga (%s) still wakes at %s or has commands in flight", s.Status, s.NextWake())
		}
	}
	if busy > 1 {
		d.t.Fatalf("%d steps are running or compensating at once: %+v", busy, s.Steps)
	}
	if n := len(d.m.InFlight(s, d.now)); n > 1 {
		d.t.Fatalf("%d commands in flight", n)
	}
	if !s.Status.Terminal() {
		// NextWake is exact: a Tick at it acts, a Tick just before does not.
		w := d.m.NextWake(s)
		if w.IsZero() {
			d.t.Fatalf("saga %s is stuck: nothing in flight and nothing scheduled: %+v", s.Status, s.Steps)
		}
		if out, err := d.m.Decide(s, saga.Tick{}, w); err != nil || len(out) == 0 {
			d.t.Fatalf("Tick at NextWake %s did nothing (err %v): %+v", w, err, s.Steps)
		}
		if out, err := d.m.Decide(s, saga.Tick{}, w.Add(-time.Nanosecond)); err != nil || len(out) != 0 {
			d.t.Fatalf("Tick before NextWake %s emitted %v (err %v)", w, summary(out), err)
		}
	}
}

// inFlight returns the step awaiting a reply, or fails the test.
func (d *driver) inFlight() saga.StepState {
	d.t.Helper()
	for _, st := range d.s.Steps {
		if st.CommandID != "" {
			return st
		}
	}
	d.t.Fatalf("no command in flight: %+v", d.s.Steps)
	return saga.StepState{}
}

// replyTo builds a participant's reply to the command in flight.
func (d *driver) replyTo(outcome, reason, data string) saga.Reply {
	d.t.Helper()
	st := d.inFlight()
	def, _ := d.m.Pinned(d.s)
	var cmd events.Type
	for _, step := range def.Steps {
		if step.Name == st.Name {
			cmd = step.Command
			if st.Status == saga.StepCompensating {
				cmd = step.Compensation
			}
		}
	}
	return replyFor(d.s, st.CommandID, cmd, outcome, reason, data, d.now)
}

// replyFor builds a reply to command id, checked like the runtime checks it.
func replyFor(s saga.State, cmdID string, cmd events.Type, outcome, reason, data string, at time.Time) saga.Reply {
	p := events.StepReplyV1{CommandID: cmdID, Command: cmd, Outcome: outcome, Reason: reason}
	if data != "" {
		p.Data = json.RawMessage(data)
	}
	env := events.MustNew(events.DerivedID(cmdID, "reply:"+outcome+":"+at.String()), events.StepReply, p,
		events.Trace{SagaID: s.SagaID, CorrelationID: s.BookingRef, CausationID: cmdID, Actor: s.Actor}, s.SagaID, at)
	if _, err := events.Check(env); err != nil {
		panic(fmt.Sprintf("test built an invalid reply: %v", err))
	}
	return saga.Reply{Envelope: env, Payload: p}
}

// fold applies events to State{}.
func fold(t testing.TB, m saga.Machine, log []events.Envelope) saga.State {
	t.Helper()
	var s saga.State
	for i, e := range log {
		next, err := m.Apply(s, e)
		if err != nil {
			t.Fatalf("fold: event %d (%s): %v", i+1, e.Type, err)
		}
		s = next
	}
	return s
}

// stepInfo is the part every step event payload shares.
type stepInfo struct {
	Step     string      `json:"step"`
	Attempt  int         `json:"attempt"`
	RetryAt  time.Time   `json:"retry_at"`
	Deadline time.Time   `json:"deadline"`
	Command  events.Type `json:"command"`
	ID       string      `json:"command_id"`
	Reason   string      `json:"reason"`
}

func infoOf(e events.Envelope) stepInfo {
	var p stepInfo
	_ = json.Unmarshal(e.Payload, &p)
	return p
}

// summary renders events as "Type Step Attempt [retry]" lines for tables.
func summary(es []events.Envelope) []string {
	out := []string{}
	for _, e := range es {
		switch e.Type {
		case events.SagaStarted, events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
			out = append(out, string(e.Type))
		case events.SagaStuck:
			p := events.MustDecode[events.SagaStuckV1](e)
			out = append(out, strings.TrimSpace(fmt.Sprintf("%s %s %s", e.Type, p.Reason, p.Step)))
		default:
			p := infoOf(e)
			line := fmt.Sprintf("%s %s %d", e.Type, p.Step, p.Attempt)
			if !p.RetryAt.IsZero() {
				line += " retry"
			}
			out = append(out, line)
		}
	}
	return out
}

// act is one scripted input of a table test.
type act struct {
	name string
	do   func(d *driver)
}

func (a act) String() string { return a.name }

func start(def, data string) act {
	return act{"start " + def, func(d *driver) { d.feed(startFor(def, idemKey, data)) }}
}

func reply(outcome, reason, data string) act {
	return act{outcome, func(d *driver) { d.feed(d.replyTo(outcome, reason, data)) }}
}

func ok(data string) act      { return reply(events.OutcomeSucceeded, "", data) }
func fail(reason string) act  { return reply(events.OutcomeFailed, reason, "") }
func retry(reason string) act { return reply(events.OutcomeRetryable, reason, "") }
func oks(n int) []act         { return repeat(n, ok("")) }
func repeat(n int, a act) []act {
	out := make([]act, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// wake advances the clock to the saga's next wake-up and ticks.
var wake = act{"wake", func(d *driver) {
	w := d.s.NextWake()
	if w.IsZero() {
		d.t.Fatalf("wake: nothing scheduled")
	}
	if w.After(d.now) {
		d.now = w
	}
	d.feed(saga.Tick{})
}}

// timeout lets the deadline of the command in flight pass.
var timeout = act{"timeout", func(d *driver) {
	st := d.inFlight()
	if !st.RetryAt.IsZero() || d.s.NextWake() != st.Deadline {
		d.t.Fatalf("timeout: next wake %s is not the deadline %s", d.s.NextWake(), st.Deadline)
	}
	d.now = st.Deadline
	d.feed(saga.Tick{})
}}

// ignored feeds an input that must emit nothing.
func ignored(name string, in func(d *driver) saga.Input) act {
	return act{name, func(d *driver) {
		if out := d.feed(in(d)); len(out) != 0 {
			d.t.Fatalf("%s: emitted %v, want nothing", name, summary(out))
		}
	}}
}

// refused feeds an input the machine must refuse with code (see
// events.RefusedError), emitting nothing.
func refused(name, code string, in func(d *driver) saga.Input) act {
	return act{name, func(d *driver) { d.refuse(in(d), code) }}
}

func (d *driver) refuse(in saga.Input, code string) {
	d.t.Helper()
	out, err := d.m.Decide(d.s, in, d.now)
	var re *events.RefusedError
	if !errors.As(err, &re) || re.Code != code || !errors.Is(err, events.ErrMalformed) {
		d.t.Fatalf("Decide(%T) = %v, %v; want it refused with %s", in, summary(out), err, code)
	}
}

// signedBy is the running step's reply signed by signer.
func signedBy(signer string) func(d *driver) saga.Input {
	return func(d *driver) saga.Input {
		r := d.replyTo(events.OutcomeSucceeded, "", "")
		r.Signer = signer
		return r
	}
}

// dup feeds the last reply again.
var dup = ignored("duplicate reply", func(d *driver) saga.Input { return d.replies[len(d.replies)-1] })

// late answers the command before the last one started (an older attempt).
var late = ignored("late reply", func(d *driver) saga.Input {
	var ids []stepInfo
	for _, e := range d.log {
		if e.Type == events.StepStarted || e.Type == events.CompensationStarted {
			ids = append(ids, infoOf(e))
		}
	}
	old := ids[len(ids)-2]
	return replyFor(d.s, old.ID, old.Command, events.OutcomeSucceeded, "", "", d.now)
})

// run feeds acts to a fresh driver and returns it.
func run(t testing.TB, acts ...act) *driver {
	t.Helper()
	d := newDriver(t)
	for _, a := range acts {
		a.do(d)
	}
	return d
}

// flat concatenates act lists.
func flat(parts ...any) []act {
	var out []act
	for _, p := range parts {
		switch p := p.(type) {
		case act:
			out = append(out, p)
		case []act:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("flat: %T", p))
		}
	}
	return out
}

// lines splits a block of expected summary lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// statuses renders the step statuses in definition order.
func statuses(s saga.State) string {
	var parts []string
	for _, st := range s.Steps {
		parts = append(parts, st.Name+"="+string(st.Status))
	}
	return strings.Join(parts, " ")
}

// commandOf decodes the payload of an outgoing command.
func commandOf(t testing.TB, o saga.Outgoing) events.CommandV1 {
	t.Helper()
	e, err := events.Check(o.Envelope)
	if err != nil {
		t.Fatalf("command %s does not pass events.Check: %v", o.Envelope.Type, err)
	}
	p, err := events.Decode[events.CommandV1](e)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// field reads one field of a JSON object.
func field(t testing.TB, raw json.RawMessage, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not an object: %s", raw)
	}
	return m[name]
}
