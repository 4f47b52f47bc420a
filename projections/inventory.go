package projections

import (
	"sort"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
)

// ShowInventory is the seat count of one show as the booking log tells it.
type ShowInventory struct {
	ShowID    string `json:"show_id"`
	Capacity  int    `json:"capacity"`
	Held      int    `json:"held"`
	Confirmed int    `json:"confirmed"`
	Available int    `json:"available"`
}

// Inventory folds the booking service's log into seats per show. It counts
// by booking reference, so a reservation recorded twice (another attempt of
// the same step) holds its seats once.
type Inventory struct {
	capacity  map[string]int
	held      map[string]map[string]int // show -> booking ref -> seats
	confirmed map[string]map[string]bool
	released  map[string]bool // booking refs
}

// NewInventory starts from the catalogue's shows.
func NewInventory(shows map[string]catalog.Show) *Inventory {
	inv := &Inventory{capacity: map[string]int{}, held: map[string]map[string]int{}, confirmed: map[string]map[string]bool{}, released: map[string]bool{}}
	for id, s := range shows {
		inv.capacity[id] = s.Capacity
	}
	return inv
}

// Add folds one checked booking event.
func (inv *Inventory) Add(e events.Envelope) {
	if e.Type == events.ShowAdded {
		if p, err := events.Decode[events.ShowAddedV1](e); err == nil && p.Outcome == events.OutcomeSucceeded {
			if _, listed := inv.capacity[p.ShowID]; !listed {
				inv.capacity[p.ShowID] = p.Capacity
			}
		}
		return
	}
	p, err := events.Decode[events.SeatsV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return
	}
	if inv.held[p.ShowID] == nil {
		inv.held[p.ShowID], inv.confirmed[p.ShowID] = map[string]int{}, map[string]bool{}
	}
	switch e.Type {
	case events.SeatsReserved:
		_, held := inv.held[p.ShowID][p.BookingRef]
		if !held && !inv.released[p.BookingRef] && p.Seats > 0 {
			inv.held[p.ShowID][p.BookingRef] = p.Seats
		}
	case events.SeatsReleased:
		// Once released, a booking holds nothing again, as in the service.
		inv.released[p.BookingRef] = true
		delete(inv.held[p.ShowID], p.BookingRef)
		delete(inv.confirmed[p.ShowID], p.BookingRef)
	case events.BookingConfirmed:
		if _, ok := inv.held[p.ShowID][p.BookingRef]; ok {
			inv.confirmed[p.ShowID][p.BookingRef] = true
		}
	}
}

// Show returns one show's seats.
func (inv *Inventory) Show(id string) (ShowInventory, bool) {
	c, ok := inv.capacity[id]
	if !ok {
		return ShowInventory{}, false
	}
	s := ShowInventory{ShowID: id, Capacity: c}
	for ref, n := range inv.held[id] {
		s.Held += n
		if inv.confirmed[id][ref] {
			s.Confirmed += n
		}
	}
	s.Available = c - s.Held
	return s, true
}

// Shows returns every show's seats, by id.
func (inv *Inventory) Shows() []ShowInventory {
	var out []ShowInventory
	for id := range inv.capacity {
		s, _ := inv.Show(id)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShowID < out[j].ShowID })
	return out
}
