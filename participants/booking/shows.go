package booking

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

// addShow decides an AddShow command: a new show is listed; listing the
// same show again succeeds and changes nothing; a different show under an
// id in use is refused.
func (s *Service) addShow(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	d, err := service.Data[events.ShowData](p)
	if err != nil {
		return events.Envelope{}, false, err
	}
	if err := d.Validate(); err != nil {
		return events.Envelope{}, false, events.Malformed("%s: %v", cmd.Type, err)
	}
	h := events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}
	if sh, ok := s.shows[d.ShowID]; ok && (sh.capacity != d.Capacity || sh.price != d.PriceCents) {
		h.Outcome = events.OutcomeFailed
		h.Reason = fmt.Sprintf("show %s is already listed with %d seats at %d cents", d.ShowID, sh.capacity, sh.price)
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), events.ShowAdded, events.ShowAddedV1{Handled: h, ShowData: d},
		events.TraceOf(cmd), d.ShowID, now)
	return ev, err == nil, err
}

// applyShow folds a ShowAdded event: a show listed for the first time gets
// its seats; a repeat listing changes nothing.
func (s *Service) applyShow(e events.Envelope) error {
	_, p, err := events.CheckAs[events.ShowAddedV1](e)
	if err != nil {
		return err
	}
	if _, listed := s.shows[p.ShowID]; p.Outcome == events.OutcomeSucceeded && !listed {
		s.shows[p.ShowID] = &show{capacity: p.Capacity, price: p.PriceCents}
	}
	return nil
}
