package ui

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// pageSize is the sagas of one page of the list.
const pageSize = 50

var statuses = []string{"running", "compensating", "completed", "compensated", "failed", projections.StatusStuck}

// timeForm is how the list's time range is typed (a datetime-local input).
const timeForm = "2006-01-02T15:04"

type sagasData struct {
	Q        url.Values
	Statuses []string
	Defs     []string
	Errors   map[string]string
	Rows     []readmodel.SagaRow
	Next     string
	Took     time.Duration
}

// sagas is GET /ui/sagas: the sagas, newest first, searched by booking
// reference, user, status, definition and start time, a page at a time.
func (h *Handler) sagas(w http.ResponseWriter, r *http.Request, s session) {
	q := r.URL.Query()
	d := sagasData{Q: q, Statuses: statuses, Errors: map[string]string{}}
	d.Defs = h.definitionNames(r.Context())
	sq := readmodel.SagaQuery{BookingRef: q.Get("ref"), Actor: q.Get("user"), Status: q.Get("status"), Definition: q.Get("definition"), Limit: pageSize}
	if sq.Status != "" && !slices.Contains(statuses, sq.Status) {
		d.Errors["status"] = "status must be one of " + strings.Join(statuses, ", ")
	}
	if sq.Definition != "" && !slices.Contains(d.Defs, sq.Definition) {
		d.Errors["definition"] = "no definition " + strconv.Quote(sq.Definition)
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &sq.From}, {"to", &sq.To}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(timeForm, v)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, v); err != nil {
				d.Errors[f.name] = "a time such as 2026-12-03T16:45, in UTC"
				continue
			}
		}
		*f.to = t.UTC()
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && !sq.From.Before(sq.To) {
		d.Errors["to"] = "the end of the range must come after its start"
	}
	if c := q.Get("cursor"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		cur, perr := readmodel.ParseSagaCursor(string(raw))
		if err != nil || perr != nil {
			d.Errors["cursor"] = "this page link is not one the back office gave: start from the first page"
		} else {
			sq.After = &cur
		}
	}
	status := http.StatusOK
	if len(d.Errors) > 0 {
		status = http.StatusBadRequest
	} else {
		start := time.Now()
		rows, next, err := h.cfg.ReadModel.SearchSagas(r.Context(), sq)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		d.Took, d.Rows = time.Since(start), rows
		if next != nil {
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("cursor", base64.RawURLEncoding.EncodeToString([]byte(next.String())))
			d.Next = "/ui/sagas?" + nq.Encode()
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	h.render(w, r, "sagas", s, d)
}
