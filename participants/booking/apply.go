package booking

import (
	"fmt"

	"github.com/sagaflow/saga/events"
)

// Apply folds one of the service's own events into its state. It is a
// deterministic fold: the same log always rebuilds the same state. The
// runtime folds one event per command id (service.Once); answers that
// repeat an earlier one for the same booking ref change nothing.
func (s *Service) Apply(e events.Envelope) error {
	switch e.Type {
	case events.SeatsReserved, events.SeatsRejected, events.SeatsReleased, events.BookingConfirmed:
	case events.ShowAdded:
		return s.applyShow(e)
	default:
		return events.Malformed("booking service has no event %q", e.Type)
	}
	e, p, err := events.CheckAs[events.SeatsV1](e)
	if err != nil {
		return err
	}
	return s.fold(e.Type, p)
}

// fold changes reservations and inventory for one event. Answers that
// repeat an earlier one (a retry, a second release) change nothing.
func (s *Service) fold(typ events.Type, p events.SeatsV1) error {
	r, exists := s.reservations[p.BookingRef]
	switch typ {
	case events.SeatsReserved:
		if exists && (r.Status.holds() || r.Status == Released) {
			return nil
		}
		sh, ok := s.shows[p.ShowID]
		if !ok {
			return fmt.Errorf("booking: %s reserved seats of unknown show %q", p.BookingRef, p.ShowID)
		}
		// Handle never decides this; it would mean the runtime handled a
		// command against state that missed an earlier event.
		if sh.held+p.Seats > sh.capacity {
			return fmt.Errorf("booking: %s would hold %d seats of %s with %d of %d held",
				p.BookingRef, p.Seats, p.ShowID, sh.held, sh.capacity)
		}
		sh.held += p.Seats
		s.reservations[p.BookingRef] = Reservation{ShowID: p.ShowID, UserID: p.UserID, Status: Reserved, Seats: p.Seats, AmountCents: p.AmountCents}
	case events.SeatsRejected:
		if !exists {
			s.reservations[p.BookingRef] = Reservation{ShowID: p.ShowID, UserID: p.UserID, Status: Rejected}
		}
	case events.SeatsReleased:
		switch {
		case exists && r.Status.holds():
			s.shows[r.ShowID].held -= r.Seats
			r.Status = Released
			s.reservations[p.BookingRef] = r
		case !exists || r.Status == Rejected:
			s.reservations[p.BookingRef] = Reservation{ShowID: p.ShowID, UserID: p.UserID, Status: Released}
		}
	case events.BookingConfirmed:
		if p.Outcome == events.OutcomeSucceeded && exists && r.Status == Reserved {
			r.Status = Confirmed
			s.reservations[p.BookingRef] = r
		}
	}
	return nil
}
