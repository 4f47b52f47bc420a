package readmodel

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// machine folds the saga log exactly as the orchestrator and
// projections.Sagas do: Fold skips duplicates and events that do not fit.
var machine = saga.NewMachine(flows.All())

// sagaEntry is one saga's folded state during a batch.
type sagaEntry struct {
	state    saga.State
	lastType string
	lastStep string
	dirty    bool
}

// sagaCache folds saga log events over states kept in a table (state
// column, JSON of saga.State), loading each saga once per batch.
type sagaCache struct {
	b       *batch
	load    func(id string) (*sagaEntry, error)
	entries map[string]*sagaEntry
	order   []string
}

func newSagaCache(b *batch, load func(id string) (*sagaEntry, error)) *sagaCache {
	return &sagaCache{b: b, load: load, entries: map[string]*sagaEntry{}}
}

// fold applies e to its saga; applied is false when the fold skips it.
// step is the step e names, if any.
func (c *sagaCache) fold(e events.Envelope) (ent *sagaEntry, step string, applied bool, err error) {
	ent, ok := c.entries[e.SagaID]
	if !ok {
		if ent, err = c.load(e.SagaID); err != nil {
			return nil, "", false, err
		}
		if ent == nil {
			ent = &sagaEntry{}
		}
		c.entries[e.SagaID] = ent
	}
	next, applied, err := machine.Fold(ent.state, e)
	if err != nil || !applied {
		return ent, "", false, nil
	}
	if !ent.dirty {
		c.order = append(c.order, e.SagaID)
	}
	ent.state, ent.dirty, ent.lastType = next, true, e.Type
	if step = stepOf(e); step != "" {
		ent.lastStep = step
	}
	return ent, step, true, nil
}

// dirtyEntries are the sagas the batch changed, in the order first changed.
func (c *sagaCache) dirtyEntries() []*sagaEntry {
	out := make([]*sagaEntry, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.entries[id])
	}
	return out
}

func stepOf(e events.Envelope) string {
	var p struct {
		Step string `json:"step"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.Step
}

func decodeState(raw string) (saga.State, error) {
	var s saga.State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return s, fmt.Errorf("stored saga state: %w", err)
	}
	return s, nil
}

// bookingData reads the booking fields of a saga's data.
func bookingData(s saga.State) events.BookingData {
	var d events.BookingData
	_ = json.Unmarshal(s.Data, &d)
	return d
}

// --- sagas: one row per saga, and its timeline ---

var sagasProjection = &projection{
	name:    ProjectionSagas,
	version: 1,
	topics:  []string{topicSagaLog},
	tables: []table{
		{name: "sagas", columns: `
			saga_id         TEXT PRIMARY KEY,
			booking_ref     TEXT NOT NULL,
			definition      TEXT NOT NULL,
			status          TEXT NOT NULL,
			current_step    TEXT NOT NULL,
			actor           TEXT NOT NULL,
			reason          TEXT NOT NULL,
			seq             INTEGER NOT NULL,
			started_at      TEXT,
			last_event_type TEXT NOT NULL,
			last_event_at   TEXT,
			state           TEXT NOT NULL`,
			indexes: []string{"status, started_at", "booking_ref, started_at", "started_at"}},
		{name: "saga_events", columns: `
			saga_id TEXT NOT NULL,
			seq     INTEGER NOT NULL,
			type    TEXT NOT NULL,
			step    TEXT NOT NULL,
			at      TEXT,
			PRIMARY KEY (saga_id, seq)`},
	},
	apply: applySagas,
}

func applySagas(b *batch, evs []event) error {
	cache := newSagaCache(b, func(id string) (*sagaEntry, error) {
		row, err := b.queryRow(fmt.Sprintf(`SELECT state, last_event_type, current_step FROM %s WHERE saga_id = ?`, b.t("sagas")), id)
		if err != nil {
			return nil, err
		}
		var raw string
		ent := &sagaEntry{}
		switch err := row.Scan(&raw, &ent.lastType, &ent.lastStep); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		ent.state, err = decodeState(raw)
		return ent, err
	})
	insEvent := fmt.Sprintf(`INSERT INTO %s (saga_id, seq, type, step, at) VALUES (?, ?, ?, ?, ?)`, b.t("saga_events"))
	for _, ev := range evs {
		ent, step, applied, err := cache.fold(ev.env)
		if err != nil {
			return err
		}
		if applied {
			s := ent.state
			if _, err := b.exec(insEvent, s.SagaID, s.Seq, ev.env.Type, step, fmtTime(ev.env.OccurredAt)); err != nil {
				return err
			}
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	upsert := fmt.Sprintf(`INSERT INTO %s (saga_id, booking_ref, definition, status, current_step, actor, reason, seq,
			started_at, last_event_type, last_event_at, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (saga_id) DO UPDATE SET booking_ref = excluded.booking_ref, definition = excluded.definition,
			status = excluded.status, current_step = excluded.current_step, actor = excluded.actor,
			reason = excluded.reason, seq = excluded.seq, started_at = excluded.started_at,
			last_event_type = excluded.last_event_type, last_event_at = excluded.last_event_at, state = excluded.state`, b.t("sagas"))
	for _, ent := range cache.dirtyEntries() {
		s := ent.state
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if _, err := b.exec(upsert, s.SagaID, s.BookingRef, s.Definition, string(s.Status), ent.lastStep, s.Actor, s.Reason,
			s.Seq, fmtTime(s.StartedAt), ent.lastType, fmtTime(s.UpdatedAt), string(raw)); err != nil {
			return err
		}
	}
	return nil
}

// --- bookings: one row per booking ref, its timeline; user_bookings view ---

var bookingsProjection = &projection{
	name:    ProjectionBookings,
	version: 1,
	topics:  []string{topicSagaLog},
	tables: []table{
		{name: "booking_sagas", columns: `
			saga_id TEXT PRIMARY KEY,
			state   TEXT NOT NULL`},
		{name: "bookings", columns: `
			booking_ref       TEXT PRIMARY KEY,
			saga_id           TEXT,
			book_status       TEXT,
			user_id           TEXT,
			show_id           TEXT,
			seats             INTEGER,
			amount_cents      INTEGER,
			started_at        TEXT,
			book_updated_at   TEXT,
			cancel_saga_id    TEXT,
			cancel_status     TEXT,
			cancel_started_at TEXT,
			cancel_updated_at TEXT,
			status     TEXT GENERATED ALWAYS AS (CASE WHEN cancel_status = 'completed' THEN 'cancelled' ELSE book_status END) VIRTUAL,
			updated_at TEXT GENERATED ALWAYS AS (max(COALESCE(book_updated_at, ''), COALESCE(cancel_updated_at, ''))) VIRTUAL`,
			indexes: []string{"user_id, started_at"}},
		{name: "booking_events", columns: `
			saga_id     TEXT NOT NULL,
			seq         INTEGER NOT NULL,
			booking_ref TEXT NOT NULL,
			type        TEXT NOT NULL,
			step        TEXT NOT NULL,
			at          TEXT,
			PRIMARY KEY (saga_id, seq)`,
			indexes: []string{"booking_ref, at"}},
	},
	apply: applyBookings,
}

// StatusCancelled is a booking whose cancel-booking saga completed.
const StatusCancelled = "cancelled"

func applyBookings(b *batch, evs []event) error {
	cache := newSagaCache(b, func(id string) (*sagaEntry, error) {
		row, err := b.queryRow(fmt.Sprintf(`SELECT state FROM %s WHERE saga_id = ?`, b.t("booking_sagas")), id)
		if err != nil {
			return nil, err
		}
		var raw string
		switch err := row.Scan(&raw); {
		case errors.Is(err, sql.ErrNoRows):
			return nil, nil
		case err != nil:
			return nil, err
		}
		s, err := decodeState(raw)
		return &sagaEntry{state: s}, err
	})
	insEvent := fmt.Sprintf(`INSERT INTO %s (saga_id, seq, booking_ref, type, step, at) VALUES (?, ?, ?, ?, ?, ?)`, b.t("booking_events"))
	for _, ev := range evs {
		ent, step, applied, err := cache.fold(ev.env)
		if err != nil {
			return err
		}
		if applied {
			s := ent.state
			if _, err := b.exec(insEvent, s.SagaID, s.Seq, s.BookingRef, ev.env.Type, step, fmtTime(ev.env.OccurredAt)); err != nil {
				return err
			}
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	saveState := fmt.Sprintf(`INSERT INTO %s (saga_id, state) VALUES (?, ?)
		ON CONFLICT (saga_id) DO UPDATE SET state = excluded.state`, b.t("booking_sagas"))
	// The latest saga of each definition wins (by start, then id), as
	// projections.Reconciler reads a booking; the condition keeps the
	// result independent of the order partitions are read in.
	book := fmt.Sprintf(`INSERT INTO %[1]s (booking_ref, saga_id, book_status, user_id, show_id, seats, amount_cents,
			started_at, book_updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (booking_ref) DO UPDATE SET saga_id = excluded.saga_id, book_status = excluded.book_status,
			user_id = excluded.user_id, show_id = excluded.show_id, seats = excluded.seats,
			amount_cents = excluded.amount_cents, started_at = excluded.started_at,
			book_updated_at = excluded.book_updated_at
		WHERE %[1]s.saga_id IS NULL OR %[1]s.saga_id = excluded.saga_id
			OR (excluded.started_at, excluded.saga_id) > (%[1]s.started_at, %[1]s.saga_id)`, b.t("bookings"))
	cancel := fmt.Sprintf(`INSERT INTO %[1]s (booking_ref, cancel_saga_id, cancel_status, cancel_started_at, cancel_updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (booking_ref) DO UPDATE SET cancel_saga_id = excluded.cancel_saga_id,
			cancel_status = excluded.cancel_status, cancel_started_at = excluded.cancel_started_at,
			cancel_updated_at = excluded.cancel_updated_at
		WHERE %[1]s.cancel_saga_id IS NULL OR %[1]s.cancel_saga_id = excluded.cancel_saga_id
			OR (excluded.cancel_started_at, excluded.cancel_saga_id) > (%[1]s.cancel_started_at, %[1]s.cancel_saga_id)`, b.t("bookings"))
	for _, ent := range cache.dirtyEntries() {
		s := ent.state
		raw, err := json.Marshal(s)
		if err != nil {
			return err
		}
		if _, err := b.exec(saveState, s.SagaID, string(raw)); err != nil {
			return err
		}
		switch s.Definition {
		case flows.BookTicket:
			d := bookingData(s)
			_, err = b.exec(book, s.BookingRef, s.SagaID, string(s.Status), d.UserID, d.ShowID, d.Seats, d.AmountCents,
				fmtTime(s.StartedAt), fmtTime(s.UpdatedAt))
		case flows.CancelBooking:
			_, err = b.exec(cancel, s.BookingRef, s.SagaID, string(s.Status), fmtTime(s.StartedAt), fmtTime(s.UpdatedAt))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
