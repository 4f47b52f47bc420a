package ui

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/sagaflow/saga/readmodel"
)

// dlqLimit is the most letters the page lists.
const dlqLimit = 500

type dlqData struct {
	Letters []readmodel.DeadLetter
	Reasons []reasonCount
	OK, Err string
	More    bool
	// Parked are the webhook deliveries that used up their retries.
	Parked      []parked
	WebhooksOff bool
	ParkedErr   string
}

type reasonCount struct {
	Reason string
	N      int
}

// dlq is GET /ui/dlq: the dead letters, oldest first, with their payloads
// as the read model redacted them, and counts by reason.
func (h *Handler) dlq(w http.ResponseWriter, r *http.Request, s session) {
	letters, next, err := h.cfg.ReadModel.DeadLetters(r.Context(), h.cfg.Namespace, nil, dlqLimit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := dlqData{Letters: letters, More: next != nil}
	d.OK, d.Err = h.flashed(r)
	d.Parked, d.WebhooksOff, d.ParkedErr = h.parkedDeliveries(r.Context(), s)
	idx := map[string]int{}
	for _, l := range letters {
		i, ok := idx[l.Reason]
		if !ok {
			i = len(d.Reasons)
			idx[l.Reason] = i
			d.Reasons = append(d.Reasons, reasonCount{Reason: l.Reason})
		}
		d.Reasons[i].N++
	}
	h.render(w, r, "dlq", s, d)
}

// redrive is POST /ui/dlq/{id}/redrive: one letter, by POST
// /v1/dlq/{id}/redrive; with id "reason" and a reason in the form,
// every listed letter of that reason.
func (h *Handler) redrive(w http.ResponseWriter, r *http.Request, s session) {
	id := r.PathValue("id")
	ids := []string{id}
	if id == "reason" {
		reason := r.PostForm.Get("reason")
		letters, _, err := h.cfg.ReadModel.DeadLetters(r.Context(), h.cfg.Namespace, nil, dlqLimit)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		ids = ids[:0]
		for _, l := range letters {
			if l.Reason == reason {
				ids = append(ids, l.ID)
			}
		}
		if len(ids) == 0 {
			h.flash(w, r, "/ui/dlq", outcome{Message: "no dead letter has the reason " + fmt.Sprintf("%q", reason)}, "")
			return
		}
	}
	for _, l := range ids {
		o := h.act(r.Context(), s, http.MethodPost, "/v1/dlq/"+url.PathEscape(l)+"/redrive", nil)
		if o.Message != "" {
			h.flash(w, r, "/ui/dlq", outcome{Message: l + ": " + o.Message}, "")
			return
		}
		h.cfg.Log.Info().Str("actor", s.id.Actor()).Str("letter", l).Msg("back office: dead letter redriven")
	}
	h.flash(w, r, "/ui/dlq", outcome{}, fmt.Sprintf("redriven: %d letter(s)", len(ids)))
}
