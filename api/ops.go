package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// Paging of GET /v1/sagas and GET /v1/dlq.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

var sagaStatuses = []string{"running", "compensating", "completed", "compensated", "failed", projections.StatusStuck}

// listSagas is GET /v1/sagas?status=&definition=&limit=&cursor=: the
// sagas in the order they started, a page at a time. The cursor is the
// last saga of the previous page, so pages stay stable while new sagas
// start.
func (s *Server) listSagas(w http.ResponseWriter, r *http.Request, _ Identity) error {
	q := r.URL.Query()
	var fields []FieldError
	status, def := q.Get("status"), q.Get("definition")
	if q.Has("status") && !contains(sagaStatuses, status) {
		fields = append(fields, FieldError{Field: "status", Message: fmt.Sprintf("status must be one of %v, got %q", sagaStatuses, status)})
	}
	limit, bad := pageLimit(r)
	fields = append(fields, bad...)
	after := ""
	if q.Has("cursor") {
		c := q.Get("cursor")
		raw, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || uuid.Validate(string(raw)) != nil {
			fields = append(fields, FieldError{Field: "cursor", Message: "cursor is not one this server gave"})
		}
		after = string(raw)
	}
	if len(fields) > 0 {
		return badRequest("the query is not valid", fields...)
	}
	rows, err := s.db.Sagas(r.Context(), status)
	if err != nil {
		return err
	}
	page := make([]readmodel.SagaRow, 0, limit)
	skipping := after != ""
	next := ""
	for _, row := range rows {
		if skipping {
			skipping = row.SagaID != after
			continue
		}
		if def != "" && row.Definition != def {
			continue
		}
		if len(page) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(page[len(page)-1].SagaID))
			break
		}
		page = append(page, row)
	}
	out := map[string]any{"sagas": page}
	if next != "" {
		out["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, out)
}

// getSaga is GET /v1/sagas/{id}: one saga, by id or booking reference.
func (s *Server) getSaga(w http.ResponseWriter, r *http.Request, _ Identity) error {
	v, err := s.db.Saga(r.Context(), r.PathValue("id"))
	if errors.Is(err, readmodel.ErrNotFound) {
		return notFound("no saga " + r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

type retryRequest struct {
	Reason string `json:"reason,omitempty"`
}

// retry is POST /v1/sagas/{id}/retry: resume a failed saga once its cause
// is fixed.
func (s *Server) retry(w http.ResponseWriter, r *http.Request, id Identity) error {
	var req retryRequest
	if err := decodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Reason) > 1000 {
		return badRequest("the retry is not valid", FieldError{Field: "reason", Message: "reason must be at most 1000 characters"})
	}
	v, err := s.db.Saga(r.Context(), r.PathValue("id"))
	if errors.Is(err, readmodel.ErrNotFound) {
		return notFound("no saga " + r.PathValue("id"))
	}
	if err != nil {
		return err
	}
	if v.Status != "failed" {
		return conflict(fmt.Sprintf("saga %s is %s; only failed sagas can be retried", v.SagaID, v.Status))
	}
	e, err := events.New(uuid.NewString(), events.ResumeSaga, events.ResumeSagaV1{Reason: req.Reason},
		events.Trace{SagaID: v.SagaID, CorrelationID: v.BookingRef, Actor: id.Actor()}, v.SagaID, time.Now())
	if err != nil {
		return err
	}
	if err := s.postEnvelope(r.Context(), e); err != nil {
		return err
	}
	status := http.StatusAccepted
	if d := preferWait(r, s.cfg.MaxWait); d > 0 {
		w.Header().Set("Preference-Applied", fmt.Sprintf("wait=%d", int(d.Seconds())))
		done := s.ends.wait(r.Context(), v.SagaID, len(v.Events), d)
		if done {
			if v, err = s.db.Saga(r.Context(), v.SagaID); err != nil {
				return err
			}
			status = http.StatusOK
		}
	}
	w.Header().Set("Location", "/v1/sagas/"+v.SagaID)
	return writeJSON(w, status, v)
}

// listDLQ is GET /v1/dlq?limit=&cursor=: the dead letters, oldest first,
// a page at a time, from the read model, with the secrets of their
// payloads redacted. The cursor is the last letter of the previous page.
func (s *Server) listDLQ(w http.ResponseWriter, r *http.Request, _ Identity) error {
	limit, fields := pageLimit(r)
	var after *readmodel.LetterCursor
	if q := r.URL.Query(); q.Has("cursor") {
		raw, err := base64.RawURLEncoding.DecodeString(q.Get("cursor"))
		c, perr := readmodel.ParseLetterCursor(string(raw))
		if err != nil || perr != nil {
			fields = append(fields, FieldError{Field: "cursor", Message: "cursor is not one this server gave"})
		}
		after = &c
	}
	if len(fields) > 0 {
		return badRequest("the query is not valid", fields...)
	}
	letters, next, err := s.db.DeadLetters(r.Context(), s.cfg.Bus.Namespace, after, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"letters": letters}
	if next != nil {
		out["next_cursor"] = base64.RawURLEncoding.EncodeToString([]byte(next.String()))
	}
	return writeJSON(w, http.StatusOK, out)
}

// pageLimit reads the limit parameter of a listing.
func pageLimit(r *http.Request) (int, []FieldError) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return DefaultPageSize, nil
	}
	l := q.Get("limit")
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > MaxPageSize {
		return DefaultPageSize, []FieldError{{Field: "limit", Message: fmt.Sprintf("limit must be between 1 and %d, got %q", MaxPageSize, l)}}
	}
	return n, nil
}

// redrive is POST /v1/dlq/{id}/redrive: the letter is looked up in the
// read model and sent from its place on the dead-letter topic.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request, _ Identity) error {
	id := r.PathValue("id")
	d, err := s.db.DeadLetter(r.Context(), s.cfg.Bus.Namespace, id)
	if errors.Is(err, readmodel.ErrNotFound) {
		return notFound("no dead letter " + id)
	}
	if err != nil {
		return err
	}
	var out client.Redriven
	var gone error
	err = s.withTimeout(r.Context(), func(ctx context.Context) error {
		var err error
		out, err = s.client.RedriveAt(ctx, d.DLQPartition, d.DLQOffset)
		if errors.Is(err, client.ErrNotFound) {
			gone = err
			return nil
		}
		return err
	})
	if gone != nil {
		return notFound(gone.Error())
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, out)
}

// reconcile is GET /v1/reconcile: where the services' logs disagree, from
// the read model (it asks Kafka only how far the logs go).
func (s *Server) reconcile(w http.ResponseWriter, r *http.Request, _ Identity) error {
	now := s.now()
	var rec readmodel.Reconciled
	if err := s.withTimeout(r.Context(), func(ctx context.Context) error {
		var err error
		rec, err = s.db.Reconcile(ctx, s.cfg.Bus, now)
		return err
	}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, client.FromReadModel(rec, now))
}
