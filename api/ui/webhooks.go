package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// parkedLimit is the most parked deliveries listed per subscription.
const parkedLimit = 50

// parked is a webhook delivery that used up its retries; its payload is
// not drawn.
type parked struct {
	SubscriptionID string    `json:"subscription_id"`
	ID             string    `json:"id"`
	BookingRef     string    `json:"booking_ref"`
	EventType      string    `json:"event_type"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error"`
	LastStatusCode int       `json:"last_status_code"`
	CreatedAt      time.Time `json:"created_at"`
	URL            string    `json:"-"`
}

// parkedDeliveries reads, through the JSON API, the parked deliveries of
// every subscription; off is true when the server keeps no webhooks.
func (h *Handler) parkedDeliveries(ctx context.Context, s session) (out []parked, off bool, msg string) {
	o := h.act(ctx, s, http.MethodGet, "/v1/webhooks", nil)
	if o.Status == http.StatusNotFound {
		return nil, true, ""
	}
	if o.Message != "" {
		return nil, false, o.Message
	}
	var subs struct {
		Webhooks []struct{ ID, URL string }
	}
	if err := json.Unmarshal(o.Body, &subs); err != nil {
		return nil, false, err.Error()
	}
	for _, sub := range subs.Webhooks {
		o := h.act(ctx, s, http.MethodGet, "/v1/webhooks/"+url.PathEscape(sub.ID)+"/deliveries?status=parked&limit="+strconv.Itoa(parkedLimit), nil)
		if o.Message != "" {
			return out, false, o.Message
		}
		var ds struct{ Deliveries []parked }
		if err := json.Unmarshal(o.Body, &ds); err != nil {
			return out, false, err.Error()
		}
		for _, d := range ds.Deliveries {
			d.URL = sub.URL
			out = append(out, d)
		}
	}
	return out, false, ""
}

// redeliver is POST /ui/webhooks/{sub}/deliveries/{id}/redeliver: POST
// /v1/webhooks/{sub}/deliveries/{id}/redeliver as the signed-in identity.
func (h *Handler) redeliver(w http.ResponseWriter, r *http.Request, s session) {
	sub, id := r.PathValue("sub"), r.PathValue("id")
	o := h.act(r.Context(), s, http.MethodPost, "/v1/webhooks/"+url.PathEscape(sub)+"/deliveries/"+url.PathEscape(id)+"/redeliver", nil)
	if o.Message == "" {
		h.cfg.Log.Info().Str("actor", s.id.Actor()).Str("delivery", id).Msg("back office: webhook redelivered")
	}
	h.flash(w, r, "/ui/dlq", o, "delivery "+id+" queued again")
}
