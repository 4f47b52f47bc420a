package booking_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
)

// Random interleavings of reserve, release and confirm for many booking
// refs, with retries and redeliveries, never hold more seats than a show
// has, keep held equal to the seats of live reservations, and fold back
// into the same state from the log alone.
func TestCapacityNeverExceeded(t *testing.T) {
	shows := []string{"show-small", "show-1"}
	kinds := []events.Type{events.ReserveSeats, events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking}
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			h := newHarness(t)
			h.Every = 37
			var sent []cmdSpec
			for i := 0; i < 400; i++ {
				var c cmdSpec
				if len(sent) > 0 && rng.IntN(10) == 0 {
					c = sent[rng.IntN(len(sent))] // a redelivery: same command id
				} else {
					n := rng.IntN(40)
					ref := fmt.Sprintf("BK-%02d", n)
					typ := kinds[rng.IntN(len(kinds))]
					c = cmdSpec{typ: typ, saga: "saga-" + ref, attempt: 1 + rng.IntN(3), comp: typ == events.ReleaseSeats,
						data: events.BookingData{BookingRef: ref, UserID: "alice", ShowID: shows[n%2], Seats: 1 + rng.IntN(events.MaxSeats)}}
				}
				sent = append(sent, c)
				h.run(c)
				checkInventory(t, h.Svc, shows, 40)
			}
			h.CheckFold()
			seen := map[string]int{}
			for _, e := range h.Log {
				seen[string(e.Type)+"/"+events.MustDecode[events.SeatsV1](e).Outcome]++
			}
			for _, k := range []string{"SeatsReserved/succeeded", "SeatsRejected/failed", "SeatsReleased/succeeded",
				"BookingConfirmed/succeeded", "BookingConfirmed/failed"} {
				if seen[k] == 0 {
					t.Errorf("the run never produced %s: %v", k, seen)
				}
			}
		})
	}
}

// checkInventory checks 0 <= held <= capacity and held = live seats.
func checkInventory(t *testing.T, s *booking.Service, shows []string, refs int) {
	t.Helper()
	live := map[string]int{}
	for n := 0; n < refs; n++ {
		r, ok := s.Reservation(fmt.Sprintf("BK-%02d", n))
		if ok && (r.Status == booking.Reserved || r.Status == booking.Confirmed) {
			live[r.ShowID] += r.Seats
		}
	}
	for _, show := range shows {
		held, capacity := s.Held(show), s.Capacity(show)
		if held < 0 || held > capacity || held != live[show] {
			t.Fatalf("%s: held %d, capacity %d, live seats %d", show, held, capacity, live[show])
		}
	}
}

// An event decided on stale state (the runtime skipped an Apply) would
// oversell; Apply refuses it rather than hold more seats than exist.
func TestApplyRefusesOverselling(t *testing.T) {
	s := booking.New(demo.Catalog())
	a, pa := build(t, cmdSpec{typ: events.ReserveSeats, saga: "a", data: events.BookingData{BookingRef: "BK-A", ShowID: "show-small", Seats: 2}})
	b, pb := build(t, cmdSpec{typ: events.ReserveSeats, saga: "b", data: events.BookingData{BookingRef: "BK-B", ShowID: "show-small", Seats: 1}})
	ea, _, _ := s.Handle(a, pa, t0)
	eb, _, _ := s.Handle(b, pb, t0) // decided before ea was applied
	if err := s.Apply(ea); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(eb); err == nil {
		t.Fatal("Apply accepted an oversold reservation")
	}
	if s.Held("show-small") != 2 {
		t.Fatalf("held = %d, want 2", s.Held("show-small"))
	}
}
