package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// ErrConflict marks an idempotency key reused with a different request.
var ErrConflict = errors.New("idempotency conflict")

// ReadModel answers sagas, bookings and shows from read models;
// *readmodel.DB is one. An unknown saga or booking is an error that wraps
// readmodel.ErrNotFound.
type ReadModel interface {
	Saga(ctx context.Context, idOrRef string) (projections.SagaView, error)
	Booking(ctx context.Context, ref string) (readmodel.Booking, error)
	SearchShows(ctx context.Context, country, state string) ([]projections.ShowListing, error)
}

var _ ReadModel = (*readmodel.DB)(nil)

// UseReadModel makes the client answer from r instead of folding the logs:
// whether a show is on sale, the booking a cancellation undoes, a saga to
// inspect or retry, and the saga a request's key already started. No
// request then needs a fold of a log before it is posted. The client
// closes r, if it is an io.Closer, when it is closed.
func (c *Client) UseReadModel(r ReadModel) { c.reader = r }

// request is what a posted StartSaga asked for, to tell a retry of it from
// a reuse of its key.
// Plain strings keep a Receipt comparable.
type request struct {
	key, definition, data string
}

// Conflict says whether saga v, the saga of rec's idempotency key, was
// started by another request than rec's: the orchestrator starts a key's
// saga once, with the first request that reaches its partition, and
// ignores every later one, so a request whose fields the saga does not
// hold was refused. The rule is events.RequestFingerprint's: the same
// definition and the same data, whatever the order of its fields.
func (rec Receipt) Conflict(v projections.SagaView) error {
	r := rec.req
	if r.key == "" || v.Definition == "" {
		return nil
	}
	// The saga's view holds no payment token: the request's is not compared.
	data := json.RawMessage(events.Redact([]byte(r.data)))
	if v.Definition == r.definition && events.StartedFingerprint(v.Definition, data, v.Data) == events.RequestFingerprint(r.definition, data) {
		return nil
	}
	return fmt.Errorf("%w: idempotency key %q was used for another request (saga %s, %s %s); use a new key for a new request",
		ErrConflict, r.key, v.SagaID, v.Definition, v.Status)
}

// existing is the saga the read model holds for rec's key, if any.
func (c *Client) existing(ctx context.Context, rec Receipt) (projections.SagaView, bool, error) {
	if c.reader == nil {
		return projections.SagaView{}, false, nil
	}
	v, err := c.reader.Saga(ctx, rec.SagaID)
	if errors.Is(err, readmodel.ErrNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

// ErrShowExists marks a show added again with the same details: nothing
// is posted, and nothing needs to be.
var ErrShowExists = errors.New("show already on sale")

// CheckNewShow refuses to add a show whose id is on sale with other
// details (ErrConflict), and says ErrShowExists when it is on sale with
// these; listed is the show as the read model or log has it, if at all.
func CheckNewShow(d events.ShowData, listed events.ShowData, ok bool) error {
	if !ok {
		return nil
	}
	if listed == d {
		return fmt.Errorf("%w: show %s is on sale with these details; nothing to do", ErrShowExists, d.ShowID)
	}
	return fmt.Errorf("%w: show %s is already on sale with other details (%s); a show's details cannot change", ErrConflict, d.ShowID, showDiff(listed, d))
}

func showDiff(had, want events.ShowData) string {
	var out []string
	add := func(name string, a, b any) {
		if a != b {
			out = append(out, fmt.Sprintf("%s %v, not %v", name, a, b))
		}
	}
	add("title", had.Title, want.Title)
	add("venue", had.Venue, want.Venue)
	add("city", had.City, want.City)
	add("state", had.State, want.State)
	add("country", had.Country, want.Country)
	add("capacity", had.Capacity, want.Capacity)
	add("price in cents", had.PriceCents, want.PriceCents)
	return strings.Join(out, ", ")
}

// Current is the saga as the read model has it after the first seen events
// (a retried saga's earlier end does not count), false without a read
// model or when it has nothing newer: a repeated request reports the state
// its saga is in, not "running".
func (c *Client) Current(ctx context.Context, sagaID string, seen int) (projections.SagaView, bool) {
	if c.reader == nil {
		return projections.SagaView{}, false
	}
	v, err := c.reader.Saga(ctx, sagaID)
	if err != nil || len(v.Events) <= seen {
		return projections.SagaView{}, false
	}
	return v, true
}
