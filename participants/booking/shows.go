package booking

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
)

// addShow decides an AddShow command: a new show is listed; listing the
// same show again succeeds and changes nothing; a different show under an
// id in use is refused.
func (s *Service) addShow(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if err := p.Validate(); err != nil {
		return events.Envelope{}, false, events.Malformed("command: %v", err)
	}
	var d events.ShowData
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return events.Envelope{}, false, events.Malformed("command data: %v", err)
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
	e, err := events.Check(e)
	if err != nil {
		return err
	}
	p, err := events.Decode[events.ShowAddedV1](e)
	if err != nil {
		return err
	}
	if _, listed := s.shows[p.ShowID]; p.Outcome == events.OutcomeSucceeded && !listed {
		s.shows[p.ShowID] = &show{capacity: p.Capacity, price: p.PriceCents}
	}
	return nil
}
