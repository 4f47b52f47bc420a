package ui

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

type sagaData struct {
	Saga     projections.SagaView
	Graph    graph
	Timeline []timelineEntry
	Confirm  string
	OK, Err  string
	CanRetry bool
	// CanCancel: a completed booking (of the book-ticket definition).
	CanCancel bool
	// Stuck is the watchdog's finding while the saga needs an operator.
	Stuck *projections.StuckView
	// Facts is what the services' own logs say of the booking.
	Facts    projections.RefFacts
	HasFacts bool
}

// timelineEntry is one event of the booking, from any of its sagas.
type timelineEntry struct {
	At     time.Time
	SagaID string
	Def    string
	// Service is the service whose log an entry comes from; empty for
	// the saga log's.
	Service string
	Type    string
	Step    string
}

// saga is GET /ui/sagas/{id}: one saga (by id or booking reference), its
// definition drawn with each step's state, the timeline of its booking,
// and what can be done to it.
func (h *Handler) saga(w http.ResponseWriter, r *http.Request, s session) {
	v, err := h.cfg.ReadModel.Saga(r.Context(), r.PathValue("id"))
	if errors.Is(err, readmodel.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		h.render(w, r, "saga", s, sagaData{Err: "no saga or booking " + r.PathValue("id")})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	v.Data = nil // never drawn: the saga's data holds the payment token
	q := r.URL.Query()
	d := sagaData{Saga: v, Graph: drawGraph(h.definitionOf(r.Context(), v.Definition, v.DefinitionVersion), v),
		CanRetry: v.Status == "failed", Stuck: v.Stuck, CanCancel: v.Status == "completed" && v.Definition == "book-ticket"}
	d.OK, d.Err = h.flashed(r)
	if c := q.Get("confirm"); (c == "retry" && d.CanRetry) || (c == "cancel" && d.CanCancel) {
		d.Confirm = c
	}
	tl, err := h.timeline(r, v.BookingRef)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Timeline = tl
	if d.Facts, d.HasFacts, err = h.cfg.ReadModel.RefFacts(r.Context(), v.BookingRef); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, "saga", s, d)
}

// timeline is every saga event of a booking reference, in time order.
func (h *Handler) timeline(r *http.Request, ref string) ([]timelineEntry, error) {
	rows, _, err := h.cfg.ReadModel.SearchSagas(r.Context(), readmodel.SagaQuery{BookingRef: ref, Limit: 20})
	if err != nil {
		return nil, err
	}
	var out []timelineEntry
	for _, row := range rows {
		v, err := h.cfg.ReadModel.Saga(r.Context(), row.SagaID)
		if err != nil {
			return nil, err
		}
		for _, e := range v.Events {
			out = append(out, timelineEntry{At: e.At, SagaID: v.SagaID, Def: v.Definition, Type: e.Type, Step: e.Step})
		}
	}
	// What the services' own logs hold of the booking, beside the sagas'.
	evs, err := h.cfg.ReadModel.ServiceEvents(r.Context(), ref)
	if err != nil {
		return nil, err
	}
	for _, e := range evs {
		out = append(out, timelineEntry{At: e.At, Service: e.Service, Type: e.Type, Step: e.Step})
	}
	slices.SortStableFunc(out, func(a, b timelineEntry) int { return a.At.Compare(b.At) })
	return out, nil
}

// retry is POST /ui/sagas/{id}/retry: POST /v1/sagas/{id}/retry as the
// signed-in identity.
func (h *Handler) retry(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	o := h.act(r.Context(), s, http.MethodPost, "/v1/sagas/"+id+"/retry", map[string]string{"reason": r.PostForm.Get("reason")})
	if o.Message == "" {
		h.cfg.Log.Info().Str("actor", s.id.Actor()).Str("saga_id", id).Msg("back office: saga retried")
	}
	h.flash(w, r, "/ui/sagas/"+id, o, "retry sent: the saga resumes")
}

// cancel is POST /ui/sagas/{id}/cancel: cancel the saga's booking with
// POST /v1/bookings/{ref}/cancel as the signed-in identity.
func (h *Handler) cancel(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	v, err := h.cfg.ReadModel.Saga(r.Context(), id)
	if err != nil {
		h.flash(w, r, "/ui/sagas/"+id, outcome{Message: "no saga " + id}, "")
		return
	}
	o := h.act(r.Context(), s, http.MethodPost, "/v1/bookings/"+v.BookingRef+"/cancel", nil)
	if o.Message == "" {
		h.cfg.Log.Info().Str("actor", s.id.Actor()).Str("booking_ref", v.BookingRef).Msg("back office: booking cancelled")
	}
	h.flash(w, r, "/ui/sagas/"+id, o, "cancellation requested for "+v.BookingRef)
}
