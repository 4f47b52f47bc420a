package saga_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// sagaEventTypes is every type of the saga log.
var sagaEventTypes = []events.Type{
	events.SagaStarted, events.StepStarted, events.StepSucceeded, events.StepFailed, events.StepTimedOut,
	events.CompensationStarted, events.StepCompensated, events.CompensationFailed,
	events.SagaCompleted, events.SagaCompensated, events.SagaFailed,
}

// fuzzBases are states an arbitrary event is applied to: empty, running,
// waiting for a retry, compensating, waiting for a compensation retry, ended.
func fuzzBases(t testing.TB) []saga.State {
	book := start(flows.BookTicket, bookData)
	return []saga.State{
		{},
		run(t, book).s,
		run(t, book, ok(""), retry("x")).s,
		run(t, book, ok(""), ok(""), fail("x")).s,
		run(t, book, ok(""), ok(""), fail("x"), fail("y")).s,
		run(t, book, ok(""), ok(""), ok(""), ok(""), ok("")).s,
		run(t, book, ok(""), ok(""), fail("x"), fail("1"), wake, fail("2"), wake, fail("3"), wake, fail("4"), wake, fail("5")).s,
		run(t, start(flows.CancelBooking, cancelData), ok("")).s,
	}
}

func deepCopy(s saga.State) saga.State {
	s.Steps = slices.Clone(s.Steps)
	s.Data = slices.Clone(s.Data)
	return s
}

// FuzzDecodeAndApply feeds arbitrary bytes as the payload of each saga event
// type through events.Check and Machine.Apply, and what Apply accepts on to
// Decide, InFlight, Command and NextWake: nothing panics, Check and Apply
// agree on what is malformed, and the state passed in is never changed.
func FuzzDecodeAndApply(f *testing.F) {
	bases := fuzzBases(f)
	for _, d := range sampleHistories(f) {
		for i, e := range d.log {
			f.Add(uint8(slices.Index(sagaEventTypes, e.Type)), uint8(i), []byte(e.Payload))
		}
	}
	for i := range sagaEventTypes {
		for _, junk := range []string{"", "null", "{}", "[]", `{"step":"VerifyUser","attempt":1}`, `{"step":"ChargePayment","attempt":-1}`,
			`{"step":"ReserveSeats","attempt":2,"command_id":"c","command":"ReserveSeats","deadline":"9999-12-31T23:59:59Z"}`,
			`{"step":"ReserveSeats","attempt":9223372036854775807,"retry_at":"0001-01-01T00:00:00Z"}`,
			`{"definition":"cancel-booking","idempotency_key":"k","booking_ref":"r","data":{"seats":1e400}}`, "\x00\xff"} {
			f.Add(uint8(i), uint8(i), []byte(junk))
		}
	}
	f.Fuzz(func(t *testing.T, typ, base uint8, payload []byte) {
		s := bases[int(base)%len(bases)]
		before := deepCopy(s)
		sagaID := s.SagaID
		if sagaID == "" {
			sagaID = events.SagaIDFor(idemKey)
		}
		e := events.Envelope{ID: events.SagaEventID(sagaID, s.Seq+1), Type: sagaEventTypes[int(typ)%len(sagaEventTypes)], Version: 1,
			SagaID: sagaID, CorrelationID: s.BookingRef, Actor: actor, OccurredAt: t0.Add(time.Minute), Key: sagaID, Payload: payload}

		checked, checkErr := events.Check(e)
		if checkErr != nil && !errors.Is(checkErr, events.ErrMalformed) {
			t.Fatalf("Check error is not ErrMalformed: %v", checkErr)
		}
		next, applyErr := machine.Apply(s, e)
		if checkErr != nil && applyErr == nil {
			t.Fatalf("Apply accepted a %s payload Check rejects (%v): %q", e.Type, checkErr, payload)
		}
		if !reflect.DeepEqual(s, before) {
			t.Fatalf("Apply changed the state it was given")
		}
		if applyErr != nil {
			return
		}
		_ = checked
		_ = next.NextWake()
		_ = machine.InFlight(next, t0)
		if e.Type == events.StepStarted || e.Type == events.CompensationStarted {
			_, _ = machine.Command(next, checked)
		}
		mid := deepCopy(next)
		for _, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(100 * 365 * 24 * time.Hour)} {
			out, err := machine.Decide(next, saga.Tick{}, at)
			if err != nil && len(out) != 0 {
				t.Fatalf("Decide returned events with an error")
			}
			s2 := next
			for _, o := range out {
				if s2, err = machine.Apply(s2, o); err != nil {
					t.Fatalf("Apply of an event Decide emitted: %v", err)
				}
			}
		}
		if !reflect.DeepEqual(next, mid) {
			t.Fatalf("Decide changed the state it was given")
		}
	})
}
