package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sagaflow/saga/api/webhook"
)

type webhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events,omitempty"`
}

// webhooks returns the store, or 404 when this server sends none.
func (s *Server) webhooks() (*webhook.Store, error) {
	if s.cfg.Webhooks == nil {
		return nil, notFound("this server sends no webhooks")
	}
	return s.cfg.Webhooks, nil
}

// subscribe is POST /v1/webhooks: the answer holds the signing secret,
// shown this once.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	var req webhookRequest
	if err := decodeJSON(w, r, &req, "url"); err != nil {
		return err
	}
	var fields []FieldError
	if len(req.URL) > 2048 {
		fields = append(fields, FieldError{Field: "url", Message: "url must be at most 2048 characters"})
	} else if err := s.cfg.WebhookGuard.Check(req.URL); err != nil {
		fields = append(fields, FieldError{Field: "url", Message: err.Error()})
	}
	for _, e := range req.Events {
		if !contains(webhook.EventTypes(), e) {
			fields = append(fields, FieldError{Field: "events", Message: fmt.Sprintf("events must be among %v, got %q", webhook.EventTypes(), e)})
		}
	}
	if len(fields) > 0 {
		return badRequest("the webhook is not valid", fields...)
	}
	sub, err := store.Subscribe(r.Context(), req.URL, req.Events)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/webhooks/"+sub.ID)
	return writeJSON(w, http.StatusCreated, sub)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	subs, err := store.Subscriptions(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"webhooks": subs})
}

func webhookErr(err error) error {
	if errors.Is(err, webhook.ErrNotFound) {
		return notFound(err.Error())
	}
	return err
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	sub, err := store.Subscription(r.Context(), r.PathValue("id"))
	if err != nil {
		return webhookErr(err)
	}
	return writeJSON(w, http.StatusOK, sub)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := store.Unsubscribe(r.Context(), r.PathValue("id")); err != nil {
		return webhookErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deliveries is GET /v1/webhooks/{id}/deliveries?status=&limit=: newest
// first; status=parked lists those that exhausted their retries.
func (s *Server) deliveries(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status := q.Get("status")
	var fields []FieldError
	if q.Has("status") && status != webhook.StatusPending && status != webhook.StatusDelivered && status != webhook.StatusParked {
		fields = append(fields, FieldError{Field: "status", Message: fmt.Sprintf("status must be pending, delivered or parked, got %q", status)})
	}
	limit := DefaultPageSize
	if q.Has("limit") {
		l := q.Get("limit")
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxPageSize {
			fields = append(fields, FieldError{Field: "limit", Message: fmt.Sprintf("limit must be between 1 and %d, got %q", MaxPageSize, l)})
		}
		limit = n
	}
	if len(fields) > 0 {
		return badRequest("the query is not valid", fields...)
	}
	ds, err := store.Deliveries(r.Context(), r.PathValue("id"), status, limit)
	if err != nil {
		return webhookErr(err)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

// redeliver is POST /v1/webhooks/{id}/deliveries/{delivery}/redeliver.
func (s *Server) redeliver(w http.ResponseWriter, r *http.Request, _ Identity) error {
	store, err := s.webhooks()
	if err != nil {
		return err
	}
	if err := store.Redeliver(r.Context(), r.PathValue("id"), r.PathValue("delivery")); err != nil {
		return webhookErr(err)
	}
	return writeJSON(w, http.StatusAccepted, map[string]string{"id": r.PathValue("delivery"), "status": webhook.StatusPending})
}
