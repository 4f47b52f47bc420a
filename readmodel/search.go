package readmodel

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sagaflow/saga/projections"
)

// SagaQuery selects sagas for the back office's list: every field set
// narrows it; the zero query is every saga.
type SagaQuery struct {
	BookingRef string
	// Actor is who started the saga: a customer's user id, or
	// "backoffice:" and a staff member's name.
	Actor      string
	Status     string
	Definition string
	// From and To bound the start time: From included, To excluded.
	From, To time.Time
	// After is the last saga of the previous page; nil for the first.
	After *SagaCursor
	Limit int
}

// SagaCursor is a place in the newest-first order of sagas: the start
// time and id of the last saga of a page (keyset paging, not OFFSET, so
// a page costs the same however deep it is).
type SagaCursor struct {
	StartedAt string
	SagaID    string
}

// String is the cursor as a string that ParseSagaCursor reads back.
func (c SagaCursor) String() string { return c.StartedAt + "|" + c.SagaID }

// ParseSagaCursor reads a cursor that String wrote.
func ParseSagaCursor(s string) (SagaCursor, error) {
	at, id, ok := strings.Cut(s, "|")
	if !ok || id == "" || len(at) > 64 || len(id) > 128 {
		return SagaCursor{}, errors.New("readmodel: not a saga cursor")
	}
	return SagaCursor{StartedAt: at, SagaID: id}, nil
}

// SearchSagas returns a page of the sagas q selects, newest first, and
// the cursor of the next page (nil on the last). The sagas table's
// indexes on (booking_ref, started_at), (status, started_at),
// (actor, started_at), (definition, started_at) and (started_at) serve it.
func (db *DB) SearchSagas(ctx context.Context, q SagaQuery) (rows []SagaRow, next *SagaCursor, err error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	if q.BookingRef != "" {
		add("booking_ref = ?", q.BookingRef)
	}
	if q.Actor != "" {
		add("actor = ?", q.Actor)
	}
	if cond, arg := statusWhere(q.Status); cond != "" {
		where = append(where, cond)
		args = append(args, arg...)
	}
	if q.Definition != "" {
		add("definition = ?", q.Definition)
	}
	if !q.From.IsZero() {
		add("started_at >= ?", fmtTime(q.From))
	}
	if !q.To.IsZero() {
		add("started_at < ?", fmtTime(q.To))
	}
	if q.After != nil {
		// started_at <= bounds the index range; the OR picks the place in it.
		where = append(where, "started_at <= ? AND (started_at < ? OR saga_id < ?)")
		args = append(args, q.After.StartedAt, q.After.StartedAt, q.After.SagaID)
	}
	query := `SELECT ` + sagaRowColumns + ` FROM sagas`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY started_at DESC, saga_id DESC LIMIT %d", q.Limit+1)
	res, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, err
	}
	defer res.Close()
	now := db.now()
	rows = []SagaRow{}
	var lastStarted string
	for res.Next() {
		r, started, err := scanSagaRow(res, now)
		if err != nil {
			return nil, nil, err
		}
		if len(rows) == q.Limit {
			next = &SagaCursor{StartedAt: lastStarted, SagaID: rows[len(rows)-1].SagaID}
			break
		}
		lastStarted = started
		rows = append(rows, r)
	}
	return rows, next, res.Err()
}

// SagaCounts is how many sagas the read model holds by status.
func (db *DB) SagaCounts(ctx context.Context) (map[string]int, error) {
	return db.countBy(ctx, `SELECT status, count(*) FROM sagas GROUP BY status`)
}

// DeadLetterCount is how many dead letters the read model holds.
func (db *DB) DeadLetterCount(ctx context.Context) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM dlq_letters`).Scan(&n)
	return n, err
}

// RecentLatencies are the start-to-end durations of the last n sagas that
// ended, newest first.
func (db *DB) RecentLatencies(ctx context.Context, n int) ([]time.Duration, error) {
	res, err := db.sql.QueryContext(ctx, `SELECT started_at, last_event_at FROM sagas
		WHERE status IN ('completed', 'compensated', 'failed') ORDER BY last_event_at DESC LIMIT ?`, n)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []time.Duration
	for res.Next() {
		var a, b sql.NullString
		if err := res.Scan(&a, &b); err != nil {
			return nil, err
		}
		if s, e := parseTime(a), parseTime(b); !s.IsZero() && !e.IsZero() {
			out = append(out, e.Sub(s))
		}
	}
	return out, res.Err()
}

// RefFacts is what the booking, payment and notification logs say of a
// booking reference, as the reconcile projection keeps it; ok is false
// when they say nothing of it.
func (db *DB) RefFacts(ctx context.Context, ref string) (f projections.RefFacts, ok bool, err error) {
	var raw string
	err = db.sql.QueryRowContext(ctx, `SELECT facts FROM reconcile_refs WHERE booking_ref = ?`, ref).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return f, false, nil
	}
	if err != nil {
		return f, false, err
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return f, false, fmt.Errorf("facts of %s: %w", ref, err)
	}
	return f, true, nil
}
