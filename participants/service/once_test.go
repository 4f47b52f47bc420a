package service_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
)

// counting is the demo processor, counting the charges it is asked for.
type counting struct {
	demo.Processor
	charges *int
}

func (c counting) Charge(token string) (bool, string, bool) {
	*c.charges++
	return c.Processor.Charge(token)
}

// step is one command delivered to a service behind its Once, or, with
// restart, the service rebuilt from its log (with every event written
// twice, as a retried append does) before the command.
type step struct {
	typ     events.Type
	comp    bool
	restart bool
	// want is the reply's outcome; repeat, that it is the reply of the
	// earlier command of the same type.
	want   string
	repeat bool
}

// command makes the steps of one command type (a compensation when
// comp), each answered want, as a repeat or not.
func command(typ events.Type, comp bool) func(want string, repeat bool) step {
	return func(want string, repeat bool) step { return step{typ: typ, comp: comp, want: want, repeat: repeat} }
}

// restart is s after a restart.
func restart(s step) step { s.restart = true; return s }

const ok, failed = events.OutcomeSucceeded, events.OutcomeFailed

// drive runs steps against the service newSvc makes, all on one booking
// ref, and returns the live service.
func drive[S service.Service](t *testing.T, newSvc func() S, data events.BookingData, steps []step) S {
	t.Helper()
	svc := newSvc()
	once := service.NewOnce(svc)
	var log []events.Envelope
	first := map[events.Type]events.Handled{}
	for i, s := range steps {
		if s.restart {
			svc = newSvc()
			once = service.NewOnce(svc)
			for _, e := range append(append([]events.Envelope{}, log...), log...) {
				if _, err := once.Apply(e); err != nil {
					t.Fatalf("step %d: refold %s: %v", i, e.Type, err)
				}
			}
		}
		cmd, p := participanttest.Command(t, participanttest.Cmd{Type: s.typ, Saga: "s1", Comp: s.comp, Data: data,
			Correlation: data.BookingRef, Key: data.BookingRef})
		a, err := once.Handle(cmd, p, participanttest.T0)
		if err != nil || a.Dropped {
			t.Fatalf("step %d %s: %+v %v", i, s.typ, a, err)
		}
		if a.Reply.Outcome != s.want || a.Repeat != s.repeat {
			t.Fatalf("step %d %s: %s %q repeat=%v, want %s repeat=%v", i, s.typ, a.Reply.Outcome, a.Reply.Reason, a.Repeat, s.want, s.repeat)
		}
		if a.Repeat {
			if a.Event.ID != "" || !reflect.DeepEqual(a.Reply, first[s.typ]) {
				t.Fatalf("step %d %s: repeat %+v, want the original reply %+v and no event", i, s.typ, a, first[s.typ])
			}
			continue
		}
		first[s.typ] = a.Reply
		if folded, err := once.Apply(a.Event); err != nil || !folded {
			t.Fatalf("step %d: apply %s: folded=%v %v", i, a.Event.Type, folded, err)
		}
		log = append(log, a.Event)
	}
	return svc
}

// A repeated command id gets the original reply and no second effect,
// before and after a restart that refolds the log, and whichever of a
// charge and its refund comes first: the card is charged at most once.
func TestOnceNeverChargesTwice(t *testing.T) {
	charge, refund := command(events.ChargePayment, false), command(events.RefundPayment, true)
	tests := []struct {
		name              string
		steps             []step
		charges           int
		charged, refunded int64
	}{
		{"the same charge twice", []step{charge(ok, false), charge(ok, true)}, 1, 5000, 0},
		{"the same charge across a restart", []step{charge(ok, false), restart(charge(ok, true))}, 1, 5000, 0},
		{"the refund before its charge", []step{refund(ok, false), charge(failed, false), restart(charge(failed, true))}, 0, 0, 0},
		{"the charge redelivered after its refund", []step{charge(ok, false), refund(ok, false), charge(ok, true),
			restart(refund(ok, true)), charge(ok, true)}, 1, 5000, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			data := events.BookingData{BookingRef: "BK-1", UserID: "alice", AmountCents: 5000, PaymentToken: demo.TokenOK}
			svc := drive(t, func() *payment.Service { return payment.New(counting{charges: &n}) }, data, tt.steps)
			if n != tt.charges || svc.Charged("BK-1") != tt.charged || svc.Refunded("BK-1") != tt.refunded {
				t.Fatalf("processor asked %d times, charged %d, refunded %d; want %d, %d, %d",
					n, svc.Charged("BK-1"), svc.Refunded("BK-1"), tt.charges, tt.charged, tt.refunded)
			}
		})
	}
}

// The same for seats: a repeated reservation holds nothing more, and a
// release before its reservation leaves nothing held.
func TestOnceNeverHoldsTwice(t *testing.T) {
	reserve, release := command(events.ReserveSeats, false), command(events.ReleaseSeats, true)
	tests := []struct {
		name  string
		steps []step
		held  int
	}{
		{"the same reservation twice", []step{reserve(ok, false), reserve(ok, true), restart(reserve(ok, true))}, 2},
		{"the release before its reservation", []step{release(ok, false), reserve(failed, false), restart(reserve(failed, true))}, 0},
		{"the reservation redelivered after its release", []step{reserve(ok, false), release(ok, false),
			restart(reserve(ok, true)), release(ok, true)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := events.BookingData{BookingRef: "BK-1", UserID: "alice", ShowID: "show-small", Seats: 2}
			svc := drive(t, func() *booking.Service { return booking.New(demo.Catalog()) }, data, tt.steps)
			if got := svc.Held("show-small"); got != tt.held {
				t.Fatalf("held %d, want %d", got, tt.held)
			}
		})
	}
}

// answering is a service whose Handle is given: for the answers no
// service of the product gives.
type answering struct {
	*guestList
	handle func(cmd events.Envelope) (events.Envelope, bool)
	calls  *int
}

func (a answering) Handle(cmd events.Envelope, _ events.CommandV1, _ time.Time) (events.Envelope, bool, error) {
	*a.calls++
	ev, ok := a.handle(cmd)
	return ev, ok, nil
}

// Once refuses answers it could not fold back to their command, and
// remembers nothing of a command the service dropped, so its redelivery
// is decided afresh.
func TestOnceRefusesWhatItCannotRemember(t *testing.T) {
	seats := func(id string) events.SeatsV1 {
		return events.SeatsV1{Handled: events.Handled{CommandID: id, Outcome: events.OutcomeSucceeded}, BookingRef: "BK-1", ShowID: "show-1"}
	}
	tests := []struct {
		name    string
		handle  func(cmd events.Envelope) (events.Envelope, bool)
		wantErr bool
	}{
		{"an answer to another command", func(cmd events.Envelope) (events.Envelope, bool) {
			return events.MustNew(events.DerivedID(cmd.ID, "event"), events.SeatsReserved, seats("other"), events.TraceOf(cmd), "show-1", participanttest.T0), true
		}, true},
		{"an answer without its outcome", func(cmd events.Envelope) (events.Envelope, bool) {
			return events.Envelope{ID: "e", Type: events.SeatsReserved, Version: 1, Payload: []byte(`{"booking_ref":"BK-1"}`)}, true
		}, true},
		{"a dropped command", func(events.Envelope) (events.Envelope, bool) { return events.Envelope{}, false }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			once := service.NewOnce(answering{guestList: newGuestList(), handle: tt.handle, calls: &calls})
			cmd, p := participanttest.Command(t, participanttest.Cmd{Type: events.ReserveSeats, Saga: "s1",
				Data: events.BookingData{BookingRef: "BK-1", ShowID: "show-1", Seats: 1}})
			for range 2 {
				a, err := once.Handle(cmd, p, participanttest.T0)
				if (err != nil) != tt.wantErr || a.Repeat || a.Event.ID != "" || a.Dropped == tt.wantErr {
					t.Fatalf("%+v err=%v, want error %v", a, err, tt.wantErr)
				}
			}
			if _, seen := once.Seen(cmd.ID); seen || calls != 2 {
				t.Fatalf("seen=%v after %d calls, want nothing remembered and the service asked again", seen, calls)
			}
		})
	}
	// Nor is an event of the log without its command folded.
	once := service.NewOnce(newGuestList())
	if folded, err := once.Apply(events.Envelope{ID: "e", Type: events.SeatsReserved, Version: 1, Payload: []byte(`{}`)}); folded || err == nil {
		t.Fatalf("folded=%v err=%v, want refused", folded, err)
	}
}
