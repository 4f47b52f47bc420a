package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// isCountryCode reports whether s is two ASCII capitals, as the OpenAPI
// document's pattern says (a letter such as Å is two bytes and its own
// upper case, so length and case alone do not tell).
func isCountryCode(s string) bool {
	return len(s) == 2 && 'A' <= s[0] && s[0] <= 'Z' && 'A' <= s[1] && s[1] <= 'Z'
}

// searchShows is GET /v1/shows?country=CC&state=S.
func (s *Server) searchShows(w http.ResponseWriter, r *http.Request, _ Identity) error {
	q := r.URL.Query()
	country, state := q.Get("country"), q.Get("state")
	if !isCountryCode(country) {
		return badRequest("the search needs a country", FieldError{Field: "country",
			Message: fmt.Sprintf("country must be a two-letter code such as US, got %q", country)})
	}
	if utf8.RuneCountInString(state) > 64 {
		return badRequest("the search is not valid", FieldError{Field: "state", Message: "state must be at most 64 characters"})
	}
	shows, err := s.db.SearchShows(r.Context(), country, state)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"shows": shows})
}

// getShow is GET /v1/shows/{id}: the seats of one show.
func (s *Server) getShow(w http.ResponseWriter, r *http.Request, _ Identity) error {
	inv, err := s.db.Show(r.Context(), r.PathValue("id"))
	if errors.Is(err, readmodel.ErrNotFound) {
		// A show this server has just accepted is on its way: all its
		// seats are free.
		if a, ok := s.recent.ref(r.PathValue("id")); ok && a.Definition == flows.AddShow {
			return writeJSON(w, http.StatusOK, projections.ShowInventory{ShowID: a.BookingRef, Capacity: a.Capacity, Available: a.Capacity})
		}
		return notFound("no show " + r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, inv)
}

// addShow is POST /v1/shows: an add-show saga, keyed by the show id, so
// adding a show twice lists it once.
func (s *Server) addShow(w http.ResponseWriter, r *http.Request, id Identity) error {
	var d events.ShowData
	if err := decodeJSON(w, r, &d, "show_id", "title", "venue", "country", "capacity", "price_cents"); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return badRequest("the show is not valid", fieldErrors(err, "show_id", "title", "venue", "city", "state", "country", "capacity", "price")...)
	}
	var sagaID, ref string
	err := s.withTimeout(r.Context(), func(ctx context.Context) error {
		rec, err := s.client.AddShow(ctx, d, id.Actor())
		sagaID, ref = rec.SagaID, rec.BookingRef
		return err
	})
	if err != nil {
		return err
	}
	s.recent.add(accepted{SagaID: sagaID, BookingRef: d.ShowID, Definition: flows.AddShow, Capacity: d.Capacity})
	w.Header().Set("Location", "/v1/shows/"+d.ShowID)
	return writeJSON(w, http.StatusAccepted, map[string]string{"saga_id": sagaID, "show_id": ref, "status": "running"})
}
