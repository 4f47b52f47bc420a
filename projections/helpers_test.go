package projections_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
)

// machine is the engine that writes the logs these tests fold.
var machine = saga.NewMachine(flows.All())

// t0 is when the first scripted saga starts.
var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// sagaRun drives one saga through the pure machine at a controlled clock
// and keeps every event Decide emitted, in log order: the saga log as the
// orchestrator would have written it.
type sagaRun struct {
	t   testing.TB
	s   saga.State
	now time.Time
	log []events.Envelope
}

// startBooking starts a book-ticket saga for key at at.
func startBooking(t testing.TB, key, user, show string, seats int, token string, at time.Time) *sagaRun {
	t.Helper()
	sagaID := events.SagaIDFor(key)
	ref := events.BookingRefFor(sagaID)
	data := events.BookingData{BookingRef: ref, UserID: user, ShowID: show, Seats: seats, PaymentToken: token}
	return startSaga(t, flows.BookTicket, key, ref, user, data, at)
}

// startCancel starts the cancel-booking saga of a booking (same booking
// reference, key "cancel:"+ref as the client uses).
func startCancel(t testing.TB, ref, user, show string, seats int, at time.Time) *sagaRun {
	t.Helper()
	data := events.BookingData{BookingRef: ref, UserID: user, ShowID: show, Seats: seats, AmountCents: int64(seats) * 2500, ChargeID: "ch_1"}
	return startSaga(t, flows.CancelBooking, "cancel:"+ref, ref, user, data, at)
}

func startSaga(t testing.TB, def, key, ref, actor string, data events.BookingData, at time.Time) *sagaRun {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	sagaID := events.SagaIDFor(key)
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: raw}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: actor}, sagaID, at)
	r := &sagaRun{t: t, now: at}
	r.feed(saga.Start{Request: req, Payload: p})
	if !r.s.Started() {
		t.Fatalf("start %s %s: saga did not start", def, key)
	}
	return r
}

// feed runs one input through Decide at r.now and folds what it emits.
func (r *sagaRun) feed(in saga.Input) []events.Envelope {
	r.t.Helper()
	out, err := machine.Decide(r.s, in, r.now)
	if err != nil {
		r.t.Fatalf("Decide(%T): %v", in, err)
	}
	for _, e := range out {
		if _, err := events.Check(e); err != nil {
			r.t.Fatalf("Decide emitted an event that does not check: %v", err)
		}
		next, err := machine.Apply(r.s, e)
		if err != nil {
			r.t.Fatalf("Apply(%s): %v", e.Type, err)
		}
		r.s = next
	}
	r.log = append(r.log, out...)
	return out
}

// after advances the clock.
func (r *sagaRun) after(d time.Duration) *sagaRun {
	r.now = r.now.Add(d)
	return r
}

// inFlight is the step whose command awaits a reply.
func (r *sagaRun) inFlight() saga.StepState {
	r.t.Helper()
	for _, st := range r.s.Steps {
		if st.CommandID != "" {
			return st
		}
	}
	r.t.Fatalf("saga %s (%s): no command in flight: %+v", r.s.SagaID, r.s.Status, r.s.Steps)
	return saga.StepState{}
}

// reply answers the command in flight, built from the step's CommandID as
// a participant would.
func (r *sagaRun) reply(outcome, reason, data string) *sagaRun {
	r.t.Helper()
	st := r.inFlight()
	def, _ := machine.Definition(r.s.Definition)
	var cmd events.Type
	for _, step := range def.Steps {
		if step.Name == st.Name {
			cmd = step.Command
			if st.Status == saga.StepCompensating {
				cmd = step.Compensation
			}
		}
	}
	p := events.StepReplyV1{CommandID: st.CommandID, Command: cmd, Outcome: outcome, Reason: reason}
	if data != "" {
		p.Data = json.RawMessage(data)
	}
	env := events.MustNew(events.DerivedID(st.CommandID, "reply"), events.StepReply, p,
		events.Trace{SagaID: r.s.SagaID, CorrelationID: r.s.BookingRef, CausationID: st.CommandID, Actor: r.s.Actor}, r.s.SagaID, r.now)
	if out := r.feed(saga.Reply{Envelope: env, Payload: p}); len(out) == 0 {
		r.t.Fatalf("reply %s to %s changed nothing", outcome, st.Name)
	}
	return r
}

func (r *sagaRun) ok(data string) *sagaRun   { return r.reply(events.OutcomeSucceeded, "", data) }
func (r *sagaRun) fail(why string) *sagaRun  { return r.reply(events.OutcomeFailed, why, "") }
func (r *sagaRun) retry(why string) *sagaRun { return r.reply(events.OutcomeRetryable, why, "") }

// wake moves the clock to the saga's next wake-up and ticks.
func (r *sagaRun) wake() *sagaRun {
	r.t.Helper()
	w := r.s.NextWake()
	if w.IsZero() {
		r.t.Fatalf("wake: nothing scheduled")
	}
	r.now = w
	if out := r.feed(saga.Tick{}); len(out) == 0 {
		r.t.Fatalf("tick at %s changed nothing", w)
	}
	return r
}

// id and ref name the saga.
func (r *sagaRun) id() string  { return r.s.SagaID }
func (r *sagaRun) ref() string { return r.s.BookingRef }

// happy completes a booking, one second per reply.
func (r *sagaRun) happy() *sagaRun {
	return r.after(time.Second).ok("").
		after(time.Second).ok(`{"amount_cents":5000}`).
		after(time.Second).ok(`{"charge_id":"ch_1"}`).
		after(time.Second).ok("").
		after(time.Second).ok("")
}

// fold feeds envelopes to a fresh projection.
func fold(es ...[]events.Envelope) *projections.Sagas {
	p := projections.NewSagas(flows.All())
	for _, log := range es {
		for _, e := range log {
			p.Add(e)
		}
	}
	return p
}

// find returns a saga view or fails.
func find(t testing.TB, p *projections.Sagas, idOrRef string) projections.SagaView {
	t.Helper()
	v, ok := p.Find(idOrRef)
	if !ok {
		t.Fatalf("Find(%q): not found", idOrRef)
	}
	return v
}

func ids(vs []projections.SagaView) []string {
	out := []string{}
	for _, v := range vs {
		out = append(out, v.SagaID)
	}
	return out
}
