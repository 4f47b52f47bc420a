package projections_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/projections"
)

// seatsEvent builds a booking log event as the booking service writes it.
func seatsEvent(typ events.Type, show, ref string, seats int, outcome, cmdID string) events.Envelope {
	p := events.SeatsV1{Handled: events.Handled{CommandID: cmdID, Outcome: outcome}, BookingRef: ref, ShowID: show, UserID: "alice", Seats: seats}
	if outcome != events.OutcomeSucceeded {
		p.Reason = "refused"
	}
	e, err := events.New(events.DerivedID(cmdID, "event"), typ, p, events.Trace{CorrelationID: ref, CausationID: cmdID}, show, t0)
	if err != nil {
		panic(err)
	}
	if _, err := events.Check(e); err != nil {
		panic(fmt.Sprintf("test built an invalid event: %v", err))
	}
	return e
}

func ok(typ events.Type, show, ref string, seats int, cmd string) events.Envelope {
	return seatsEvent(typ, show, ref, seats, events.OutcomeSucceeded, cmd)
}

func failed(typ events.Type, show, ref string, seats int, cmd string) events.Envelope {
	return seatsEvent(typ, show, ref, seats, events.OutcomeFailed, cmd)
}

func newInventory() *projections.Inventory { return projections.NewInventory(demo.Shows()) }

func show(t *testing.T, inv *projections.Inventory, id string) projections.ShowInventory {
	t.Helper()
	s, ok := inv.Show(id)
	if !ok {
		t.Fatalf("Show(%q): not found", id)
	}
	return s
}

func wantShow(t *testing.T, inv *projections.Inventory, id string, held, confirmed int) {
	t.Helper()
	s := show(t, inv, id)
	capacity := demo.Shows()[id].Capacity
	want := projections.ShowInventory{ShowID: id, Capacity: capacity, Held: held, Confirmed: confirmed, Available: capacity - held}
	if s != want {
		t.Errorf("Show(%s) = %+v, want %+v", id, s, want)
	}
}

func TestInventoryStartsFromTheCatalogue(t *testing.T) {
	inv := newInventory()
	got := inv.Shows()
	want := []projections.ShowInventory{
		{ShowID: "show-1", Capacity: 100, Available: 100},
		{ShowID: "show-cancelled", Capacity: 50, Available: 50},
		{ShowID: "show-small", Capacity: 2, Available: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Shows() = %+v, want %+v", got, want)
	}
	if _, ok := inv.Show("show-x"); ok {
		t.Errorf("Show(show-x) found")
	}
	if got := projections.NewInventory(nil).Shows(); len(got) != 0 {
		t.Errorf("an inventory without shows lists %+v", got)
	}
}

func TestInventoryReserveConfirmRelease(t *testing.T) {
	inv := newInventory()
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-1", 2, "c1"))
	wantShow(t, inv, "show-1", 2, 0)
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-2", 3, "c2"))
	inv.Add(ok(events.BookingConfirmed, "show-1", "BK-1", 2, "c3"))
	wantShow(t, inv, "show-1", 5, 2)
	wantShow(t, inv, "show-small", 0, 0)

	// A released reservation gives its seats back.
	inv.Add(ok(events.SeatsReleased, "show-1", "BK-2", 3, "c4"))
	wantShow(t, inv, "show-1", 2, 2)
	// Releasing a confirmed booking (a cancellation) gives them back too.
	inv.Add(ok(events.SeatsReleased, "show-1", "BK-1", 2, "c5"))
	wantShow(t, inv, "show-1", 0, 0)

	inv.Add(ok(events.SeatsReserved, "show-small", "BK-3", 2, "c6"))
	inv.Add(ok(events.BookingConfirmed, "show-small", "BK-3", 2, "c7"))
	if got, want := inv.Shows(), []projections.ShowInventory{
		{ShowID: "show-1", Capacity: 100, Available: 100},
		{ShowID: "show-cancelled", Capacity: 50, Available: 50},
		{ShowID: "show-small", Capacity: 2, Held: 2, Confirmed: 2, Available: 0},
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("Shows() = %+v, want %+v", got, want)
	}
}

func TestInventoryReservationRecordedTwiceHoldsOnce(t *testing.T) {
	inv := newInventory()
	e := ok(events.SeatsReserved, "show-1", "BK-1", 2, "c1")
	inv.Add(e)
	inv.Add(e) // the same record twice
	// Another attempt of the step: another command, the same reservation.
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-1", 2, "c1-attempt-2"))
	wantShow(t, inv, "show-1", 2, 0)
	c := ok(events.BookingConfirmed, "show-1", "BK-1", 2, "c2")
	inv.Add(c)
	inv.Add(c)
	wantShow(t, inv, "show-1", 2, 2)
	r := ok(events.SeatsReleased, "show-1", "BK-1", 2, "c3")
	inv.Add(r)
	inv.Add(r)
	wantShow(t, inv, "show-1", 0, 0)
}

func TestInventoryIgnoresWhatChangesNothing(t *testing.T) {
	inv := newInventory()
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-1", 2, "c1"))
	inv.Add(ok(events.BookingConfirmed, "show-1", "BK-1", 2, "c2"))
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-2", 1, "c3"))
	before := inv.Shows()

	malformed := ok(events.SeatsReserved, "show-1", "BK-9", 4, "c9")
	malformed.Payload = json.RawMessage(`{"booking_ref":"BK-9","show_id":"show-1","seats":4}`) // no command id or outcome
	payment := events.MustNew("p1", events.PaymentCharged,
		events.PaymentV1{Handled: events.Handled{CommandID: "c10", Outcome: events.OutcomeSucceeded}, BookingRef: "BK-2", AmountCents: 100},
		events.Trace{}, "BK-2", t0)
	for name, e := range map[string]events.Envelope{
		"release of an unknown ref":          ok(events.SeatsReleased, "show-1", "BK-UNKNOWN", 2, "c4"),
		"release of a ref of another show":   ok(events.SeatsReleased, "show-small", "BK-1", 2, "c5"),
		"rejected reservation":               failed(events.SeatsRejected, "show-1", "BK-3", 5, "c6"),
		"rejected with a succeeded outcome":  ok(events.SeatsRejected, "show-1", "BK-3", 5, "c6b"),
		"failed release":                     failed(events.SeatsReleased, "show-1", "BK-1", 2, "c7"),
		"failed confirmation":                failed(events.BookingConfirmed, "show-1", "BK-2", 1, "c8"),
		"confirmation without a reservation": ok(events.BookingConfirmed, "show-1", "BK-4", 1, "c11"),
		"reservation of no seats":            ok(events.SeatsReserved, "show-1", "BK-5", 0, "c12"),
		"reservation with a failed outcome":  failed(events.SeatsReserved, "show-1", "BK-6", 3, "c13"),
		"malformed payload":                  malformed,
		"a payment event":                    payment,
	} {
		inv.Add(e)
		if got := inv.Shows(); !reflect.DeepEqual(got, before) {
			t.Errorf("%s changed the inventory: %+v, want %+v", name, got, before)
			before = got
		}
	}
	wantShow(t, inv, "show-1", 3, 2)
}

func TestInventoryIgnoresUnknownShows(t *testing.T) {
	inv := newInventory()
	inv.Add(ok(events.SeatsReserved, "show-x", "BK-1", 4, "c1"))
	inv.Add(ok(events.BookingConfirmed, "show-x", "BK-1", 4, "c2"))
	if _, ok := inv.Show("show-x"); ok {
		t.Errorf("Show(show-x) found")
	}
	for _, s := range inv.Shows() {
		if s.ShowID == "show-x" || s.Held != 0 {
			t.Errorf("Shows() lists %+v", s)
		}
	}
	if n, want := len(inv.Shows()), len(demo.Shows()); n != want {
		t.Errorf("Shows() has %d shows, want the catalogue's %d", n, want)
	}
	// The same booking ref on a known show is a different reservation.
	inv.Add(ok(events.SeatsReserved, "show-1", "BK-1", 1, "c3"))
	wantShow(t, inv, "show-1", 1, 0)
}

// model is the simplest statement of what the inventory means: each
// (show, booking ref) is free, held (with its seat count) or confirmed;
// only succeeded outcomes move it, and a released booking ref holds nothing
// again.
type model struct {
	res      map[string]map[string]*modelRes
	released map[string]bool
}

type modelRes struct {
	seats     int
	confirmed bool
}

func (m *model) add(typ events.Type, show, ref string, seats int, outcome string) {
	if outcome != events.OutcomeSucceeded {
		return
	}
	if m.res[show] == nil {
		m.res[show] = map[string]*modelRes{}
	}
	r := m.res[show][ref]
	switch typ {
	case events.SeatsReserved:
		if r == nil && seats > 0 && !m.released[ref] {
			m.res[show][ref] = &modelRes{seats: seats}
		}
	case events.SeatsReleased:
		m.released[ref] = true
		delete(m.res[show], ref)
	case events.BookingConfirmed:
		if r != nil {
			r.confirmed = true
		}
	}
}

func (m *model) shows(catalogue map[string]catalog.Show) []projections.ShowInventory {
	out := []projections.ShowInventory{}
	for id, sh := range catalogue {
		s := projections.ShowInventory{ShowID: id, Capacity: sh.Capacity}
		for _, r := range m.res[id] {
			s.Held += r.seats
			if r.confirmed {
				s.Confirmed += r.seats
			}
		}
		s.Available = s.Capacity - s.Held
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShowID < out[j].ShowID })
	return out
}

func TestInventoryMatchesModelOnRandomSequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(2025, 3))
	shows := []string{"show-1", "show-small", "show-x"}
	refs := []string{"BK-1", "BK-2", "BK-3", "BK-4", "BK-5"}
	types := []events.Type{events.SeatsReserved, events.SeatsRejected, events.SeatsReleased, events.BookingConfirmed}
	catalogue := demo.Shows()
	for seq := range 300 {
		inv := projections.NewInventory(catalogue)
		m := &model{res: map[string]map[string]*modelRes{}, released: map[string]bool{}}
		var history []events.Envelope
		var trace []string
		for i := range 1 + rng.IntN(40) {
			var e events.Envelope
			if len(history) > 0 && rng.IntN(6) == 0 {
				e = history[rng.IntN(len(history))] // a record seen again
			} else {
				outcome := events.OutcomeSucceeded
				if rng.IntN(4) == 0 {
					outcome = events.OutcomeFailed
				}
				e = seatsEvent(types[rng.IntN(len(types))], shows[rng.IntN(len(shows))], refs[rng.IntN(len(refs))],
					rng.IntN(6), outcome, fmt.Sprintf("cmd-%d-%d", seq, i))
			}
			history = append(history, e)
			p := events.MustDecode[events.SeatsV1](e)
			trace = append(trace, fmt.Sprintf("%s %s %s %d %s", e.Type, p.ShowID, p.BookingRef, p.Seats, p.Outcome))

			inv.Add(e)
			m.add(e.Type, p.ShowID, p.BookingRef, p.Seats, p.Outcome)
			got, want := inv.Shows(), m.shows(catalogue)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("sequence %d after %d events:\n%v\nInventory %+v\nmodel     %+v", seq, i+1, trace, got, want)
			}
			for _, s := range got {
				if s.Confirmed < 0 || s.Confirmed > s.Held || s.Available != s.Capacity-s.Held {
					t.Fatalf("sequence %d: inconsistent %+v", seq, s)
				}
				if one, _ := inv.Show(s.ShowID); one != s {
					t.Fatalf("Show(%s) = %+v, Shows() says %+v", s.ShowID, one, s)
				}
			}
		}
	}
}

// TestInventoryAgreesWithBookingService runs random commands through the
// booking service's own rules and folds the log it writes: the projection
// must count what the service holds, for every show, after every event.
func TestInventoryAgreesWithBookingService(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	shows := []string{"show-1", "show-small"}
	cmds := []events.Type{events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking}
	for seq := range 200 {
		svc := booking.New(demo.Catalog())
		inv := newInventory()
		refShow := map[string]string{} // a ref stays on one show, as the saga data does
		var sent []events.Envelope
		written := map[string]bool{} // command ids whose event is in the log
		for i := range 1 + rng.IntN(60) {
			var cmd events.Envelope
			if len(sent) > 0 && rng.IntN(8) == 0 {
				// A redelivered command: the runtime replies again from
				// what it handled and writes nothing (participant.Runtime).
				cmd = sent[rng.IntN(len(sent))]
			} else {
				ref := fmt.Sprintf("BK-%d", rng.IntN(6))
				if refShow[ref] == "" {
					refShow[ref] = shows[rng.IntN(len(shows))]
				}
				data, _ := json.Marshal(events.BookingData{BookingRef: ref, UserID: "alice", ShowID: refShow[ref], Seats: 1 + rng.IntN(3)})
				typ := cmds[rng.IntN(len(cmds))]
				cmd = events.MustNew(fmt.Sprintf("cmd-%d-%d", seq, i), typ, events.CommandV1{Step: string(typ), Attempt: 1, Data: data},
					events.Trace{CorrelationID: ref}, refShow[ref], t0.Add(time.Duration(i)*time.Second))
				sent = append(sent, cmd)
			}
			ev, ok, err := svc.Handle(cmd, events.MustDecode[events.CommandV1](cmd), cmd.OccurredAt)
			if err != nil || !ok {
				t.Fatalf("sequence %d: Handle(%s): %v %v", seq, cmd.Type, ok, err)
			}
			if written[cmd.ID] {
				continue
			}
			written[cmd.ID] = true
			if err := svc.Apply(ev); err != nil {
				t.Fatalf("sequence %d: Apply(%s): %v", seq, ev.Type, err)
			}
			inv.Add(ev)
			if rng.IntN(5) == 0 {
				inv.Add(ev) // the record written twice
			}
			for _, id := range shows {
				s := show(t, inv, id)
				confirmed := 0
				for ref, sh := range refShow {
					if r, ok := svc.Reservation(ref); ok && sh == id && r.Status == booking.Confirmed {
						confirmed += r.Seats
					}
				}
				if s.Held != svc.Held(id) || s.Confirmed != confirmed || s.Available != svc.Capacity(id)-svc.Held(id) {
					t.Fatalf("sequence %d after %s: inventory %+v, service holds %d (%d confirmed) of %d",
						seq, ev.Type, s, svc.Held(id), confirmed, svc.Capacity(id))
				}
			}
		}
	}
}
