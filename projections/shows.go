package projections

import (
	"sort"
	"strings"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
)

// ShowListing is a show, its venue and its seats left: what a search for
// shows by place answers.
type ShowListing struct {
	events.ShowData
	Available int `json:"available"`
}

// Shows folds the booking log into the shows on sale, searchable by the
// venue's country and state: the key-value read model a monolith's search
// is first sliced into.
type Shows struct {
	shows map[string]events.ShowData
	inv   *Inventory
}

// NewShows starts empty: shows become known by their ShowAdded events (the
// demo catalogue is published as such events when the system first starts).
func NewShows() *Shows {
	return &Shows{shows: map[string]events.ShowData{}, inv: NewInventory(map[string]catalog.Show{})}
}

// Add folds one checked booking event.
func (s *Shows) Add(e events.Envelope) {
	s.inv.Add(e)
	if e.Type != events.ShowAdded {
		return
	}
	p, err := events.Decode[events.ShowAddedV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return
	}
	if _, listed := s.shows[p.ShowID]; !listed {
		s.shows[p.ShowID] = p.ShowData
	}
}

// Get returns one show.
func (s *Shows) Get(id string) (ShowListing, bool) {
	d, ok := s.shows[id]
	if !ok {
		return ShowListing{}, false
	}
	inv, _ := s.inv.Show(id)
	return ShowListing{ShowData: d, Available: inv.Available}, true
}

// Search returns the shows in a country (every show when country is
// empty), and state when given (both compared without regard to case),
// ordered by id.
func (s *Shows) Search(country, state string) []ShowListing {
	out := []ShowListing{}
	for id, d := range s.shows {
		if (country != "" && !strings.EqualFold(d.Country, country)) || (state != "" && !strings.EqualFold(d.State, state)) {
			continue
		}
		l, _ := s.Get(id)
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShowID < out[j].ShowID })
	return out
}
