package booking

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
)

// Handle decides the event answering cmd. It never changes state: Apply
// does, once the event is written.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	var decide func(events.BookingData) (events.Type, events.SeatsV1)
	switch cmd.Type {
	case events.AddShow:
		return s.addShow(cmd, p, now)
	case events.ReserveSeats:
		decide = s.reserve
	case events.ReleaseSeats:
		decide = s.release
	case events.ConfirmBooking:
		decide = s.confirm
	default:
		return events.Envelope{}, false, events.Malformed("booking service does not handle %q", cmd.Type)
	}
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	if err := s.check(cmd.Type, d); err != nil {
		return events.Envelope{}, false, err
	}
	typ, payload := decide(d)
	payload.CommandID = cmd.ID
	payload.BookingRef, payload.ShowID = d.BookingRef, d.ShowID
	if payload.UserID == "" {
		payload.UserID = d.UserID
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, payload, events.TraceOf(cmd), d.ShowID, now)
	return ev, err == nil, err
}

// check rejects data the service cannot act on: every command needs the
// booking ref and show (the show is the record key), a reservation needs a
// seat count, and a ref may not move to another show.
func (s *Service) check(typ events.Type, d events.BookingData) error {
	if d.BookingRef == "" {
		return events.Malformed("%s: booking_ref is required", typ)
	}
	if d.ShowID == "" {
		return events.Malformed("%s: show_id is required", typ)
	}
	if typ == events.ReserveSeats && (d.Seats < 1 || d.Seats > events.MaxSeats) {
		return events.Malformed("%s: seats must be between 1 and %d, got %d", typ, events.MaxSeats, d.Seats)
	}
	if r, ok := s.reservations[d.BookingRef]; ok && r.ShowID != d.ShowID {
		return events.Malformed("%s: booking %s is for show %q, not %q", typ, d.BookingRef, r.ShowID, d.ShowID)
	}
	return nil
}

// reserve holds seats once per booking ref. A retry of a held reservation
// gets the original answer; a released ref (tombstone) is refused; a ref
// refused earlier is judged afresh.
func (s *Service) reserve(d events.BookingData) (events.Type, events.SeatsV1) {
	r, ok := s.reservations[d.BookingRef]
	switch {
	case ok && r.Status.holds():
		return events.SeatsReserved, held(r, events.Handled{Outcome: events.OutcomeSucceeded, Reply: events.MustJSON(s.amountOf(d.BookingRef, r.AmountCents))})
	case ok && r.Status == Released:
		return events.SeatsRejected, refused(d.Seats, "booking already released")
	}
	sh, ok := s.shows[d.ShowID]
	if !ok {
		return events.SeatsRejected, refused(d.Seats, fmt.Sprintf("unknown show %q", d.ShowID))
	}
	if left := sh.capacity - sh.held; d.Seats > left {
		return events.SeatsRejected, refused(d.Seats, fmt.Sprintf("sold out: %d seats left", left))
	}
	amount := int64(d.Seats) * sh.price
	return events.SeatsReserved, events.SeatsV1{
		Handled:     events.Handled{Outcome: events.OutcomeSucceeded, Reply: events.MustJSON(s.amountOf(d.BookingRef, amount))},
		Seats:       d.Seats,
		AmountCents: amount,
	}
}

// release frees the ref's seats. Releasing nothing succeeds (a compensation
// of nothing is done) and leaves a tombstone; releasing twice frees once.
func (s *Service) release(d events.BookingData) (events.Type, events.SeatsV1) {
	ok := events.Handled{Outcome: events.OutcomeSucceeded}
	if r, found := s.reservations[d.BookingRef]; found && (r.Status.holds() || r.Status == Released) {
		return events.SeatsReleased, held(r, ok)
	}
	return events.SeatsReleased, events.SeatsV1{Handled: ok}
}

// confirm turns a held reservation into a sale; confirming again succeeds.
func (s *Service) confirm(d events.BookingData) (events.Type, events.SeatsV1) {
	r, ok := s.reservations[d.BookingRef]
	switch {
	case !ok:
		return events.BookingConfirmed, refused(d.Seats, fmt.Sprintf("no reservation for booking %s", d.BookingRef))
	case r.Status == Reserved && s.shows[r.ShowID] != nil && s.shows[r.ShowID].cancelled:
		return events.BookingConfirmed, refused(r.Seats, "show cancelled by the venue")
	case r.Status.holds():
		return events.BookingConfirmed, held(r, events.Handled{Outcome: events.OutcomeSucceeded})
	case r.Status == Released:
		return events.BookingConfirmed, refused(r.Seats, "booking already released")
	default:
		return events.BookingConfirmed, refused(r.Seats, "seats were not reserved")
	}
}

// held describes an existing reservation in an event.
func held(r Reservation, h events.Handled) events.SeatsV1 {
	return events.SeatsV1{Handled: h, UserID: r.UserID, Seats: r.Seats, AmountCents: r.AmountCents}
}

// refused is a failed answer with its reason.
func refused(seats int, reason string) events.SeatsV1 {
	return events.SeatsV1{Handled: events.Handled{Outcome: events.OutcomeFailed, Reason: reason}, Seats: seats}
}
