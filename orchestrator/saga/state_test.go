package saga_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// sampleHistories are logs that visit every kind of saga event.
func sampleHistories(t testing.TB) map[string]*driver {
	return map[string]*driver{
		"completed":   run(t, start(flows.BookTicket, bookData), ok(`{"amount_cents":5000}`), retry("x"), wake, ok(""), timeout, wake, ok(""), ok(""), fail("x"), wake, ok("")),
		"compensated": run(t, start(flows.BookTicket, bookData), ok(""), ok(""), ok(""), fail("x"), fail("y"), wake, ok(""), timeout, wake, ok("")),
		"failed":      run(t, start(flows.BookTicket, bookData), ok(""), ok(""), fail("x"), fail("1"), wake, fail("2"), wake, fail("3"), wake, fail("4"), wake, fail("5")),
		"cancelled":   run(t, start(flows.CancelBooking, cancelData), ok(""), ok(""), ok("")),
	}
}

// wire sends an event through the record format and back, as the runtime
// reads the log: headers, events.Check.
func wire(t testing.TB, e events.Envelope) events.Envelope {
	t.Helper()
	h := map[string]string{}
	events.PutHeaders(h, e)
	back, err := events.FromHeaders(e.ID, h, e.Payload)
	if err != nil {
		t.Fatalf("FromHeaders(%s): %v", e.Type, err)
	}
	back.Key = h[events.MetaKey]
	back, err = events.Check(back)
	if err != nil {
		t.Fatalf("Check(%s): %v", e.Type, err)
	}
	return back
}

// TestFoldIsTheDecidedState folds each log, read back from its records,
// and compares with the state the decisions ended in.
func TestFoldIsTheDecidedState(t *testing.T) {
	for name, d := range sampleHistories(t) {
		t.Run(name, func(t *testing.T) {
			var replayed []events.Envelope
			for _, e := range d.log {
				replayed = append(replayed, wire(t, e))
			}
			if got := fold(t, machine, replayed); !reflect.DeepEqual(got, d.s) {
				t.Fatalf("fold of the records:\n%+v\nstate:\n%+v", got, d.s)
			}
			// Apply is a left fold: any prefix then the rest gives the same.
			for cut := range d.log {
				s := fold(t, machine, d.log[:cut])
				for _, e := range d.log[cut:] {
					var err error
					if s, err = machine.Apply(s, e); err != nil {
						t.Fatal(err)
					}
				}
				if !reflect.DeepEqual(s, d.s) {
					t.Fatalf("fold split at %d differs", cut)
				}
			}
		})
	}
}

// TestApplyDoesNotMutate keeps every intermediate state and checks that no
// later Apply changed it.
func TestApplyDoesNotMutate(t *testing.T) {
	for name, d := range sampleHistories(t) {
		t.Run(name, func(t *testing.T) {
			var states []saga.State
			var copies []saga.State
			var s saga.State
			for _, e := range d.log {
				next, err := machine.Apply(s, e)
				if err != nil {
					t.Fatal(err)
				}
				s = next
				states = append(states, s)
				c := s
				c.Steps = slices.Clone(s.Steps)
				c.Data = slices.Clone(s.Data)
				copies = append(copies, c)
			}
			for i := range states {
				if !reflect.DeepEqual(states[i], copies[i]) {
					t.Fatalf("state after event %d changed later:\nnow  %+v\nwas  %+v", i+1, states[i], copies[i])
				}
			}
			// Decide leaves its input alone too.
			for i, st := range states {
				for _, in := range []saga.Input{saga.Tick{}} {
					if _, err := machine.Decide(st, in, d.now.Add(time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				if !reflect.DeepEqual(st, copies[i]) {
					t.Fatalf("Decide changed the state it was given (after event %d)", i+1)
				}
			}
		})
	}
}

func TestApplyRejectsEventsThatDoNotFit(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData))
	sagaID := d.s.SagaID
	ev := func(typ events.Type, payload any) events.Envelope {
		return events.MustNew(events.SagaEventID(sagaID, d.s.Seq+1), typ, payload, events.Trace{SagaID: sagaID}, sagaID, t0)
	}
	raw := func(typ events.Type, payload string) events.Envelope {
		e := ev(typ, struct{}{})
		e.Payload = json.RawMessage(payload)
		return e
	}
	step := events.StepV1{Step: "Nope", Attempt: 1}
	tests := []struct {
		name  string
		state saga.State
		e     events.Envelope
		want  string
	}{
		{"step event before SagaStarted", saga.State{}, ev(events.StepStarted, events.StepStartedV1{StepV1: events.StepV1{Step: "VerifyUser", Attempt: 1}, CommandID: "c", Command: "VerifyUser"}), "before SagaStarted"},
		{"unknown definition", saga.State{}, ev(events.SagaStarted, events.SagaStartedV1{Definition: "x", IdempotencyKey: "k", BookingRef: "r", Data: json.RawMessage(`{}`)}), "unknown definition"},
		{"invalid SagaStarted", saga.State{}, raw(events.SagaStarted, `{"definition":"book-ticket"}`), "malformed"},
		{"unknown step started", d.s, ev(events.StepStarted, events.StepStartedV1{StepV1: step, CommandID: "c", Command: "X"}), "no step"},
		{"unknown step succeeded", d.s, ev(events.StepSucceeded, events.StepSucceededV1{StepV1: step}), "no step"},
		{"unknown step failed", d.s, ev(events.CompensationFailed, events.StepFailedV1{StepV1: step}), "no step"},
		{"invalid step payload", d.s, raw(events.StepFailed, `{"step":"VerifyUser","attempt":0}`), "malformed"},
		{"invalid end payload", d.s, raw(events.SagaCompleted, `[]`), "malformed"},
		{"not a saga log event", d.s, ev(events.StepReply, events.StepReplyV1{CommandID: "c", Outcome: "succeeded"}), "not a saga log event"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.state
			before.Steps = slices.Clone(tc.state.Steps)
			_, err := machine.Apply(tc.state, tc.e)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply = %v, want an error with %q", err, tc.want)
			}
			if !reflect.DeepEqual(before, tc.state) {
				t.Error("a rejected event changed the state")
			}
		})
	}
}

// TestFoldSkipsDuplicateAppends: Fold, which recovery and the projections
// use, applies only the next event of the log; an event whose id is not
// SagaEventID(saga, seq+1) is the leftover of a retried append.
func TestFoldSkipsDuplicateAppends(t *testing.T) {
	d := sampleHistories(t)["compensated"]
	var with []events.Envelope
	for i, e := range d.log {
		with = append(with, e)
		if i%3 == 0 {
			with = append(with, e) // the same event appended twice
		}
		if i == 4 {
			with = append(with, d.log[1], d.log[0]) // earlier events again
		}
	}
	var s saga.State
	applied := 0
	for _, e := range with {
		next, ok, err := machine.Fold(s, e)
		if err != nil {
			t.Fatalf("Fold(%s): %v", e.Type, err)
		}
		if !ok && !reflect.DeepEqual(next, s) {
			t.Fatalf("a skipped %s changed the state", e.Type)
		}
		if ok {
			applied++
		}
		s = next
	}
	if applied != len(d.log) || !reflect.DeepEqual(s, d.s) {
		t.Fatalf("Fold applied %d of %d events; state equal: %v", applied, len(d.log), reflect.DeepEqual(s, d.s))
	}
	// A second SagaStarted, as a Decide on a stale state would write it,
	// carries seq 1 again: skipped.
	again, _ := machine.Decide(saga.State{}, startFor(flows.BookTicket, idemKey, bookData), d.now)
	if next, ok, err := machine.Fold(s, again[0]); ok || err != nil || !reflect.DeepEqual(next, s) {
		t.Errorf("Fold of a second SagaStarted: applied %v, err %v", ok, err)
	}
	// An event that is next but does not fit is an error, not a skip.
	bad := events.MustNew(events.SagaEventID(s.SagaID, s.Seq+1), events.StepStarted,
		events.StepStartedV1{StepV1: events.StepV1{Step: "Nope", Attempt: 1}, CommandID: "c", Command: "X"},
		events.Trace{SagaID: s.SagaID}, s.SagaID, d.now)
	if _, ok, err := machine.Fold(s, bad); ok || err == nil {
		t.Errorf("Fold of an unknown step: applied %v, err %v", ok, err)
	}
}
