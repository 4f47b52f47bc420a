package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
)

// ErrNotFound marks a booking, saga or show the read model does not hold.
var ErrNotFound = errors.New("not found")

// Booking is one booking reference: its book-ticket saga, and its
// cancellation if one was asked for.
type Booking struct {
	BookingRef string `json:"booking_ref"`
	SagaID     string `json:"saga_id"`
	// Status is the book-ticket saga's status, or "cancelled" once a
	// cancel-booking saga of the reference has completed.
	Status       string    `json:"status"`
	UserID       string    `json:"user_id"`
	ShowID       string    `json:"show_id"`
	Seats        int       `json:"seats"`
	AmountCents  int64     `json:"amount_cents"`
	StartedAt    time.Time `json:"started_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	CancelSagaID string    `json:"cancel_saga_id,omitempty"`
	CancelStatus string    `json:"cancel_status,omitempty"`
	// Timeline holds the events of every saga of the reference, in the
	// order they happened (only Booking fills it).
	Timeline []TimelineEvent `json:"timeline,omitempty"`
}

// TimelineEvent is one saga log event of a booking.
type TimelineEvent struct {
	SagaID string    `json:"saga_id"`
	Seq    int       `json:"seq"`
	Type   string    `json:"type"`
	Step   string    `json:"step,omitempty"`
	At     time.Time `json:"at"`
}

// SagaRow is one saga as `saga list` shows it.
type SagaRow struct {
	SagaID        string    `json:"saga_id"`
	BookingRef    string    `json:"booking_ref"`
	Definition    string    `json:"definition"`
	Status        string    `json:"status"`
	CurrentStep   string    `json:"current_step,omitempty"`
	Actor         string    `json:"actor"`
	Reason        string    `json:"reason,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	LastEventType string    `json:"last_event_type"`
	LastEventAt   time.Time `json:"last_event_at"`
	// Stuck is why the saga needs an operator (events.StuckSLO or
	// events.StuckFailed), empty when it does not.
	Stuck     string `json:"stuck,omitempty"`
	StuckStep string `json:"stuck_step,omitempty"`
	// AgeSeconds is how long ago the saga started, when asked.
	AgeSeconds float64 `json:"age_seconds"`
}

// ShowRevenue is the money of one show: charges net of refunds. ShowID is
// empty for payments whose booking's saga the read model has not seen.
type ShowRevenue struct {
	ShowID        string `json:"show_id"`
	Charges       int    `json:"charges"`
	ChargedCents  int64  `json:"charged_cents"`
	Refunds       int    `json:"refunds"`
	RefundedCents int64  `json:"refunded_cents"`
	NetCents      int64  `json:"net_cents"`
}

const bookingColumns = `booking_ref, saga_id, status, user_id, show_id, seats, amount_cents, started_at, updated_at,
	cancel_saga_id, cancel_status`

func scanBooking(sc interface{ Scan(...any) error }) (Booking, error) {
	var b Booking
	var user, show, cancelID, cancelStatus, started, updated sql.NullString
	var seats, amount sql.NullInt64
	if err := sc.Scan(&b.BookingRef, &b.SagaID, &b.Status, &user, &show, &seats, &amount, &started, &updated,
		&cancelID, &cancelStatus); err != nil {
		return b, err
	}
	b.UserID, b.ShowID, b.Seats, b.AmountCents = user.String, show.String, int(seats.Int64), amount.Int64
	b.StartedAt, b.UpdatedAt = parseTime(started), parseTime(updated)
	b.CancelSagaID, b.CancelStatus = cancelID.String, cancelStatus.String
	return b, nil
}

// Booking returns a booking by reference, with its timeline.
func (db *DB) Booking(ctx context.Context, ref string) (Booking, error) {
	var b Booking
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBooking(tx.QueryRowContext(ctx, `SELECT `+bookingColumns+` FROM bookings
			WHERE booking_ref = ? AND saga_id IS NOT NULL`, ref))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no booking %q", ErrNotFound, ref)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT saga_id, seq, type, step, at FROM booking_events
			WHERE booking_ref = ? ORDER BY at, saga_id, seq`, ref)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e TimelineEvent
			var at sql.NullString
			if err := rows.Scan(&e.SagaID, &e.Seq, &e.Type, &e.Step, &at); err != nil {
				return err
			}
			e.At = parseTime(at)
			b.Timeline = append(b.Timeline, e)
		}
		return rows.Err()
	})
	return b, err
}

// Bookings returns every booking, oldest first.
func (db *DB) Bookings(ctx context.Context) ([]Booking, error) {
	return db.bookings(ctx, `SELECT `+bookingColumns+` FROM bookings WHERE saga_id IS NOT NULL
		ORDER BY started_at, booking_ref`)
}

// UserBookings returns a user's bookings, oldest first.
func (db *DB) UserBookings(ctx context.Context, userID string) ([]Booking, error) {
	return db.bookings(ctx, `SELECT booking_ref, saga_id, status, user_id, show_id, seats, amount_cents, started_at, updated_at,
		NULL, NULL FROM user_bookings WHERE user_id = ? ORDER BY started_at, booking_ref`, userID)
}

func (db *DB) bookings(ctx context.Context, query string, args ...any) ([]Booking, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Booking{}
	for rows.Next() {
		b, err := scanBooking(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Sagas returns the sagas in the order they started, only those with the
// given status unless status is empty; projections.StatusStuck gives
// those that need an operator.
func (db *DB) Sagas(ctx context.Context, status string) ([]SagaRow, error) {
	q := `SELECT ` + sagaRowColumns + ` FROM sagas`
	var args []any
	if cond, arg := statusWhere(status); cond != "" {
		q += ` WHERE ` + cond
		args = append(args, arg...)
	}
	rows, err := db.sql.QueryContext(ctx, q+` ORDER BY started_at, saga_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	now := db.now()
	out := []SagaRow{}
	for rows.Next() {
		r, _, err := scanSagaRow(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// sagaRowColumns are the columns scanSagaRow reads, in its order.
const sagaRowColumns = `saga_id, booking_ref, definition, status, current_step, actor, reason, started_at,
		last_event_type, last_event_at, stuck, stuck_step`

// scanSagaRow reads a row of sagaRowColumns, with its age at now, and its
// start time as stored (for a cursor).
func scanSagaRow(sc interface{ Scan(...any) error }, now time.Time) (SagaRow, string, error) {
	var r SagaRow
	var started, last sql.NullString
	if err := sc.Scan(&r.SagaID, &r.BookingRef, &r.Definition, &r.Status, &r.CurrentStep, &r.Actor, &r.Reason,
		&started, &r.LastEventType, &last, &r.Stuck, &r.StuckStep); err != nil {
		return r, "", err
	}
	r.StartedAt, r.LastEventAt = parseTime(started), parseTime(last)
	if !r.StartedAt.IsZero() {
		r.AgeSeconds = now.Sub(r.StartedAt).Seconds()
	}
	return r, started.String, nil
}

// statusWhere is the condition on the sagas table that selects a status
// (projections.StatusStuck: the sagas that need an operator), with its
// arguments; empty for every saga.
func statusWhere(status string) (string, []any) {
	switch status {
	case "":
		return "", nil
	case projections.StatusStuck:
		return "stuck != ''", nil
	default:
		return "status = ?", []any{status}
	}
}

// countBy runs a query of (key, count) rows into a map.
func (db *DB) countBy(ctx context.Context, query string) (map[string]int, error) {
	rows, err := db.sql.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// Saga returns the saga with the given id, or the latest saga of the given
// booking reference, as `saga inspect` shows it (the same view as
// projections.Sagas.Find).
func (db *DB) Saga(ctx context.Context, idOrRef string) (projections.SagaView, error) {
	var v projections.SagaView
	err := db.read(ctx, func(tx *sql.Tx) error {
		var raw string
		err := tx.QueryRowContext(ctx, `SELECT state FROM sagas WHERE saga_id = ?`, idOrRef).Scan(&raw)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `SELECT state FROM sagas WHERE booking_ref = ?
				ORDER BY started_at DESC, saga_id DESC LIMIT 1`, idOrRef).Scan(&raw)
		}
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no saga or booking %q", ErrNotFound, idOrRef)
		}
		if err != nil {
			return err
		}
		s, err := decodeState(raw)
		if err != nil {
			return err
		}
		v = sagaView(*s)
		rows, err := tx.QueryContext(ctx, `SELECT seq, type, step, at FROM saga_events WHERE saga_id = ? ORDER BY seq`, s.SagaID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e projections.EventView
			var at sql.NullString
			if err := rows.Scan(&e.Seq, &e.Type, &e.Step, &at); err != nil {
				return err
			}
			e.At = parseTime(at)
			v.Events = append(v.Events, e)
		}
		return rows.Err()
	})
	return v, err
}

// sagaView is projections' view of a folded saga, without its events.
func sagaView(s saga.State) projections.SagaView {
	v := projections.SagaView{SagaID: s.SagaID, BookingRef: s.BookingRef, Definition: s.Definition, DefinitionVersion: s.DefinitionVersion, Status: string(s.Status),
		Actor: s.Actor, Reason: s.Reason, StartedAt: s.StartedAt, UpdatedAt: s.UpdatedAt, Data: s.Data, Stuck: projections.StuckOf(s)}
	for _, st := range s.Steps {
		v.Steps = append(v.Steps, projections.StepView{Name: st.Name, Status: string(st.Status), Attempts: st.Attempt,
			CompensationTries: st.CompAttempt, StartedAt: st.StartedAt, EndedAt: st.EndedAt, Reason: st.Reason})
	}
	return v
}

// Inventory returns the seats of every show of the catalogue, by id.
func (db *DB) Inventory(ctx context.Context) ([]projections.ShowInventory, error) {
	shows := db.catalog.Shows()
	ids := make([]string, 0, len(shows))
	for id := range shows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := []projections.ShowInventory{}
	err := db.read(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			s, err := showSeats(ctx, tx, id, shows[id].Capacity)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return nil
	})
	return out, err
}

// Show returns one show's seats: a demo show's, or a listed one's.
func (db *DB) Show(ctx context.Context, showID string) (projections.ShowInventory, error) {
	var s projections.ShowInventory
	err := db.read(ctx, func(tx *sql.Tx) error {
		capacity, listed, err := listedCapacity(ctx, tx, showID)
		if err != nil {
			return err
		}
		if !listed {
			sh, ok := db.catalog.Shows()[showID]
			if !ok {
				return fmt.Errorf("%w: no show %q", ErrNotFound, showID)
			}
			capacity = sh.Capacity
		}
		s, err = showSeats(ctx, tx, showID, capacity)
		return err
	})
	if err != nil {
		return projections.ShowInventory{ShowID: showID}, err
	}
	return s, nil
}

func showSeats(ctx context.Context, tx *sql.Tx, id string, capacity int) (projections.ShowInventory, error) {
	s := projections.ShowInventory{ShowID: id, Capacity: capacity}
	err := tx.QueryRowContext(ctx, `SELECT held, confirmed FROM inventory WHERE show_id = ?`, id).Scan(&s.Held, &s.Confirmed)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s, err
	}
	s.Available = s.Capacity - s.Held
	return s, nil
}

// Revenue returns the money per show, by show id.
func (db *DB) Revenue(ctx context.Context) ([]ShowRevenue, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT show_id, charges, charged_cents, refunds, refunded_cents FROM revenue ORDER BY show_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ShowRevenue{}
	for rows.Next() {
		var r ShowRevenue
		if err := rows.Scan(&r.ShowID, &r.Charges, &r.ChargedCents, &r.Refunds, &r.RefundedCents); err != nil {
			return nil, err
		}
		r.NetCents = r.ChargedCents - r.RefundedCents
		out = append(out, r)
	}
	return out, rows.Err()
}

// StuckCounts is how many sagas of each definition need an operator now
// (projections.StuckOf): the watchdog's gauge, recomputed from the log's
// fold, so it is right after any restart.
func (db *DB) StuckCounts(ctx context.Context) (map[string]int, error) {
	return db.countBy(ctx, `SELECT definition, count(*) FROM sagas WHERE stuck != '' GROUP BY definition`)
}
