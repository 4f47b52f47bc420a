package booking_test

import (
	"encoding/json"
	"testing"

	"github.com/sagaflow/saga/events"
)

// FuzzHandle feeds arbitrary command data to Handle: it must never panic,
// and must answer with either a valid, applicable event or a malformed error.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		`{"booking_ref":"BK-1","show_id":"show-small","seats":2}`,
		`{"booking_ref":"BK-0","show_id":"show-1","seats":1}`,
		`{"booking_ref":"BK-1","show_id":"nope","seats":10}`,
		`{}`, `null`, `[]`, `"x"`, `{"seats":1e400}`, `{"seats":-1,"booking_ref":""}`, ``,
	} {
		for typ := range 4 {
			f.Add(uint8(typ), []byte(seed))
		}
	}
	types := []events.Type{events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking, events.VerifyUser}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		h := newHarness(t)
		h.run(cmdSpec{typ: events.ReserveSeats, saga: "s0", data: events.BookingData{BookingRef: "BK-0", ShowID: "show-1", Seats: 1}})
		cmd, p := build(t, cmdSpec{typ: types[int(typ)%len(types)], saga: "s1"})
		p.Data = json.RawMessage(data)
		if _, err := h.Once.Handle(cmd, p, t0); err != nil {
			h.Refuses(cmd, p)
			return
		}
		ev, ok := h.Try(cmd, p)
		if !ok {
			t.Fatal("no event and no error")
		}
		checkEvent(t, cmd, ev)
		s := h.Svc
		for _, show := range []string{"show-1", "show-small"} {
			if s.Held(show) > s.Capacity(show) || s.Held(show) < 0 {
				t.Fatalf("%s oversold", show)
			}
		}
	})
}
