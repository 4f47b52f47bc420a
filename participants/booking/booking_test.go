package booking_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
)

// step is one command of a scenario and the answer it must get.
type step struct {
	typ     events.Type
	ref     string
	show    string
	seats   int
	attempt int

	wantType    events.Type
	wantOutcome string
	wantReason  string
	wantSeats   int
	wantAmount  int64
	wantReply   string
}

const (
	ok   = events.OutcomeSucceeded
	fail = events.OutcomeFailed
)

func reserve(ref, show string, seats int) step {
	return step{typ: events.ReserveSeats, ref: ref, show: show, seats: seats}
}
func release(ref, show string) step {
	return step{typ: events.ReleaseSeats, ref: ref, show: show, seats: 1}
}
func confirm(ref, show string) step {
	return step{typ: events.ConfirmBooking, ref: ref, show: show, seats: 1}
}
func (s step) try(n int) step { s.attempt = n; return s }
func (s step) is(typ events.Type, outcome string) step {
	s.wantType, s.wantOutcome = typ, outcome
	return s
}
func (s step) because(r string) step { s.wantReason = r; return s }
func (s step) holding(seats int, amount int64) step {
	s.wantSeats, s.wantAmount = seats, amount
	if s.wantType == events.SeatsReserved {
		s.wantReply = `{"amount_cents":` + itoa(amount) + `}`
	}
	return s
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestRules(t *testing.T) {
	tests := []struct {
		name       string
		steps      []step
		wantHeld   map[string]int
		wantStatus map[string]booking.Status
	}{
		{"reserve", []step{
			reserve("BK-1", "show-1", 2).is(events.SeatsReserved, ok).holding(2, 5000),
		}, map[string]int{"show-1": 2}, map[string]booking.Status{"BK-1": booking.Reserved}},
		{"unknown show", []step{
			reserve("BK-1", "nope", 2).is(events.SeatsRejected, fail).because(`unknown show "nope"`).holding(2, 0),
		}, map[string]int{"nope": 0}, map[string]booking.Status{"BK-1": booking.Rejected}},
		{"sold out at once", []step{
			reserve("BK-1", "show-small", 3).is(events.SeatsRejected, fail).because("sold out: 2 seats left").holding(3, 0),
		}, map[string]int{"show-small": 0}, map[string]booking.Status{"BK-1": booking.Rejected}},
		{"sold out after others", []step{
			reserve("BK-1", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
			reserve("BK-2", "show-small", 1).is(events.SeatsRejected, fail).because("sold out: 0 seats left").holding(1, 0),
		}, map[string]int{"show-small": 2}, map[string]booking.Status{"BK-1": booking.Reserved, "BK-2": booking.Rejected}},
		{"retry attempt replies as the original", []step{
			reserve("BK-1", "show-small", 1).is(events.SeatsReserved, ok).holding(1, 4000),
			reserve("BK-1", "show-small", 2).try(2).is(events.SeatsReserved, ok).holding(1, 4000),
			reserve("BK-1", "show-small", 1).try(3).is(events.SeatsReserved, ok).holding(1, 4000),
		}, map[string]int{"show-small": 1}, map[string]booking.Status{"BK-1": booking.Reserved}},
		{"rejected ref is judged afresh", []step{
			reserve("BK-1", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
			reserve("BK-2", "show-small", 1).is(events.SeatsRejected, fail).because("sold out: 0 seats left").holding(1, 0),
			release("BK-1", "show-small").is(events.SeatsReleased, ok).holding(2, 8000),
			reserve("BK-2", "show-small", 1).try(2).is(events.SeatsReserved, ok).holding(1, 4000),
		}, map[string]int{"show-small": 1}, map[string]booking.Status{"BK-1": booking.Released, "BK-2": booking.Reserved}},
		{"release", []step{
			reserve("BK-1", "show-1", 4).is(events.SeatsReserved, ok).holding(4, 10000),
			release("BK-1", "show-1").is(events.SeatsReleased, ok).holding(4, 10000),
		}, map[string]int{"show-1": 0}, map[string]booking.Status{"BK-1": booking.Released}},
		{"release twice releases once", []step{
			reserve("BK-1", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
			reserve("BK-2", "show-small", 0+1).is(events.SeatsRejected, fail).because("sold out: 0 seats left").holding(1, 0),
			release("BK-1", "show-small").is(events.SeatsReleased, ok).holding(2, 8000),
			release("BK-1", "show-small").try(2).is(events.SeatsReleased, ok).holding(2, 8000),
			reserve("BK-3", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
		}, map[string]int{"show-small": 2}, map[string]booking.Status{"BK-1": booking.Released, "BK-3": booking.Reserved}},
		{"release before reserve leaves a tombstone", []step{
			release("BK-1", "show-1").is(events.SeatsReleased, ok).holding(0, 0),
			reserve("BK-1", "show-1", 2).is(events.SeatsRejected, fail).because("booking already released").holding(2, 0),
			reserve("BK-1", "show-1", 2).try(2).is(events.SeatsRejected, fail).because("booking already released").holding(2, 0),
			release("BK-1", "show-1").try(2).is(events.SeatsReleased, ok).holding(0, 0),
		}, map[string]int{"show-1": 0}, map[string]booking.Status{"BK-1": booking.Released}},
		{"release of a rejected ref", []step{
			reserve("BK-1", "show-small", 5).is(events.SeatsRejected, fail).because("sold out: 2 seats left").holding(5, 0),
			release("BK-1", "show-small").is(events.SeatsReleased, ok).holding(0, 0),
			reserve("BK-1", "show-small", 1).try(2).is(events.SeatsRejected, fail).because("booking already released").holding(1, 0),
		}, map[string]int{"show-small": 0}, map[string]booking.Status{"BK-1": booking.Released}},
		{"confirm", []step{
			reserve("BK-1", "show-1", 1).is(events.SeatsReserved, ok).holding(1, 2500),
			confirm("BK-1", "show-1").is(events.BookingConfirmed, ok).holding(1, 2500),
			confirm("BK-1", "show-1").try(2).is(events.BookingConfirmed, ok).holding(1, 2500),
			reserve("BK-1", "show-1", 1).try(2).is(events.SeatsReserved, ok).holding(1, 2500),
		}, map[string]int{"show-1": 1}, map[string]booking.Status{"BK-1": booking.Confirmed}},
		{"confirm without reservation", []step{
			confirm("BK-1", "show-1").is(events.BookingConfirmed, fail).because("no reservation for booking BK-1").holding(1, 0),
		}, map[string]int{"show-1": 0}, map[string]booking.Status{}},
		{"confirm after release", []step{
			reserve("BK-1", "show-1", 3).is(events.SeatsReserved, ok).holding(3, 7500),
			release("BK-1", "show-1").is(events.SeatsReleased, ok).holding(3, 7500),
			confirm("BK-1", "show-1").is(events.BookingConfirmed, fail).because("booking already released").holding(3, 0),
		}, map[string]int{"show-1": 0}, map[string]booking.Status{"BK-1": booking.Released}},
		{"confirm after rejection", []step{
			reserve("BK-1", "show-small", 3).is(events.SeatsRejected, fail).because("sold out: 2 seats left").holding(3, 0),
			confirm("BK-1", "show-small").is(events.BookingConfirmed, fail).because("seats were not reserved").holding(0, 0),
		}, map[string]int{"show-small": 0}, map[string]booking.Status{"BK-1": booking.Rejected}},
		{"cancel a confirmed booking", []step{
			reserve("BK-1", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
			confirm("BK-1", "show-small").is(events.BookingConfirmed, ok).holding(2, 8000),
			release("BK-1", "show-small").is(events.SeatsReleased, ok).holding(2, 8000),
			confirm("BK-1", "show-small").try(2).is(events.BookingConfirmed, fail).because("booking already released").holding(2, 0),
			reserve("BK-2", "show-small", 2).is(events.SeatsReserved, ok).holding(2, 8000),
		}, map[string]int{"show-small": 2}, map[string]booking.Status{"BK-1": booking.Released, "BK-2": booking.Reserved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, s := range tt.steps {
				_, p := h.run(cmdSpec{typ: s.typ, saga: "saga-" + s.ref, attempt: s.attempt,
					data: events.BookingData{BookingRef: s.ref, UserID: "alice", ShowID: s.show, Seats: s.seats}})
				ev := h.Log[len(h.Log)-1]
				if ev.Type != s.wantType || p.Outcome != s.wantOutcome || p.Reason != s.wantReason {
					t.Fatalf("step %d: got %s %s %q, want %s %s %q", i, ev.Type, p.Outcome, p.Reason, s.wantType, s.wantOutcome, s.wantReason)
				}
				if p.Seats != s.wantSeats || p.AmountCents != s.wantAmount || string(p.Reply) != s.wantReply {
					t.Fatalf("step %d: got seats %d amount %d reply %s, want %d %d %s", i, p.Seats, p.AmountCents, p.Reply, s.wantSeats, s.wantAmount, s.wantReply)
				}
			}
			for show, want := range tt.wantHeld {
				if got := h.Svc.Held(show); got != want {
					t.Errorf("held(%s) = %d, want %d", show, got, want)
				}
			}
			for ref, want := range tt.wantStatus {
				if r, _ := h.Svc.Reservation(ref); r.Status != want {
					t.Errorf("status(%s) = %q, want %q", ref, r.Status, want)
				}
			}
		})
	}
}

// The same command id twice gets the very same answer back, whenever it
// arrives (the runtime's service.Once), and holds nothing more.
func TestSameCommandIDTwice(t *testing.T) {
	h := newHarness(t)
	c := cmdSpec{typ: events.ReserveSeats, saga: "s1", data: events.BookingData{BookingRef: "BK-1", UserID: "alice", ShowID: "show-small", Seats: 2}}
	first, _ := h.run(c)
	second, _ := h.run(c)
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("second answer differs:\n%+v\n%+v", first, second)
	}
	if h.Svc.Held("show-small") != 2 {
		t.Fatalf("held = %d, want 2", h.Svc.Held("show-small"))
	}
	// Also for a refusal: a redelivered refused command is refused the same way.
	c2 := cmdSpec{typ: events.ReserveSeats, saga: "s2", data: events.BookingData{BookingRef: "BK-2", UserID: "bob", ShowID: "show-small", Seats: 1}}
	a, _ := h.run(c2)
	h.run(cmdSpec{typ: events.ReleaseSeats, saga: "s1", comp: true, data: c.data})
	b, _ := h.run(c2)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("redelivered refusal changed: %+v vs %+v", a, b)
	}
	if h.Svc.Held("show-small") != 0 {
		t.Fatalf("held = %d, want 0", h.Svc.Held("show-small"))
	}
}

func TestMalformed(t *testing.T) {
	good := events.BookingData{BookingRef: "BK-1", UserID: "alice", ShowID: "show-1", Seats: 2}
	with := func(f func(*events.BookingData)) events.BookingData { d := good; f(&d); return d }
	tests := []struct {
		name string
		typ  events.Type
		data events.BookingData
		mod  func(*events.CommandV1)
	}{
		{"reserve without booking_ref", events.ReserveSeats, with(func(d *events.BookingData) { d.BookingRef = "" }), nil},
		{"release without booking_ref", events.ReleaseSeats, with(func(d *events.BookingData) { d.BookingRef = "" }), nil},
		{"confirm without booking_ref", events.ConfirmBooking, with(func(d *events.BookingData) { d.BookingRef = "" }), nil},
		{"reserve without show", events.ReserveSeats, with(func(d *events.BookingData) { d.ShowID = "" }), nil},
		{"release without show", events.ReleaseSeats, with(func(d *events.BookingData) { d.ShowID = "" }), nil},
		{"no seats", events.ReserveSeats, with(func(d *events.BookingData) { d.Seats = 0 }), nil},
		{"negative seats", events.ReserveSeats, with(func(d *events.BookingData) { d.Seats = -3 }), nil},
		{"too many seats", events.ReserveSeats, with(func(d *events.BookingData) { d.Seats = events.MaxSeats + 1 }), nil},
		{"ref on another show", events.ReserveSeats, with(func(d *events.BookingData) { d.BookingRef = "BK-0"; d.ShowID = "show-small" }), nil},
		{"release on another show", events.ReleaseSeats, with(func(d *events.BookingData) { d.BookingRef = "BK-0"; d.ShowID = "show-small" }), nil},
		{"unknown command", events.ChargePayment, good, nil},
		{"data not an object", events.ReserveSeats, good, func(p *events.CommandV1) { p.Data = json.RawMessage(`[1,2]`) }},
		{"data of wrong types", events.ReserveSeats, good, func(p *events.CommandV1) {
			p.Data = json.RawMessage(`{"booking_ref":"BK-1","show_id":"show-1","seats":"two"}`)
		}},
		{"no step", events.ReserveSeats, good, func(p *events.CommandV1) { p.Step = "" }},
		{"attempt zero", events.ReserveSeats, good, func(p *events.CommandV1) { p.Attempt = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.run(cmdSpec{typ: events.ReserveSeats, saga: "s0", data: events.BookingData{BookingRef: "BK-0", ShowID: "show-1", Seats: 1}})
			cmd, p := build(t, cmdSpec{typ: tt.typ, saga: "s1", data: tt.data})
			if tt.mod != nil {
				tt.mod(&p)
			}
			h.Refuses(cmd, p)
		})
	}
}

func TestApplyRejectsForeignEvents(t *testing.T) {
	h := newHarness(t)
	bad := []events.Envelope{
		events.MustNew("e1", events.PaymentCharged, events.PaymentV1{Handled: events.Handled{CommandID: "c", Outcome: ok}, BookingRef: "BK"}, events.Trace{}, "k", t0),
		{ID: "e2", Type: events.SeatsReserved, Version: 1, Payload: json.RawMessage(`{"nonsense":`)},
		events.MustNew("e3", events.SeatsReserved, events.SeatsV1{BookingRef: "BK"}, events.Trace{}, "k", t0),
	}
	for _, e := range bad {
		h.RefusesEvent(e)
	}
}

func TestName(t *testing.T) {
	if booking.New(demo.Catalog()).Name() != events.ServiceBooking {
		t.Fatal("wrong name")
	}
	if c := booking.New(demo.Catalog()).Capacity("show-small"); c != 2 {
		t.Fatalf("capacity(show-small) = %d, want 2", c)
	}
}
