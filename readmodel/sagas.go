package readmodel

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
)

// machine folds the saga log exactly as the orchestrator and
// projections.Sagas do: Fold skips duplicates and events that do not fit.
var machine = saga.NewMachine(flows.All())

// sagaEntry is one saga's folded state as a projection has it.
type sagaEntry struct {
	// state is nil before the saga's first event; a state is never
	// changed once made (a fold makes a new one).
	state    *saga.State
	lastType string
	lastStep string
	dirty    bool
	// shelved means the saga ended and its state was let go once stored:
	// a record of it that comes after all reads it back from the table.
	shelved bool
}

// sagaCache holds the sagas a projection folded, with the ones the
// current batch changed in the order first changed.
type sagaCache struct {
	entries map[string]*sagaEntry
	order   []string
	// ended are the sagas that ended in the batch before the last one.
	ended []string
}

// shelve lets go of the states of sagas that ended in the batch before the
// last (stored by now: a batch is written only once the one before it
// was), unless the last batch changed them again. An ended saga rarely has
// records after its end, and a rebuild would otherwise hold every saga
// of the log. Called before the next batch, with the last one's changes.
func (c *sagaCache) shelve() {
	for _, id := range c.ended {
		if e := c.entries[id]; e != nil && !e.dirty && e.state != nil && e.state.Status.Terminal() {
			e.state, e.lastType, e.lastStep, e.shelved = nil, "", "", true
		}
	}
	c.ended = c.ended[:0]
	for _, id := range c.order {
		if e := c.entries[id]; e != nil && e.state != nil && e.state.Status.Terminal() {
			c.ended = append(c.ended, id)
		}
	}
}

func newSagaCache() *sagaCache { return &sagaCache{entries: map[string]*sagaEntry{}} }

// clean forgets which sagas the last batch changed.
func (c *sagaCache) clean() {
	for _, id := range c.order {
		if e := c.entries[id]; e != nil {
			e.dirty = false
		}
	}
	c.order = c.order[:0]
}

// dirtyEntries are the sagas the batch changed, in the order first changed.
func (c *sagaCache) dirtyEntries() []*sagaEntry {
	out := make([]*sagaEntry, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.entries[id])
	}
	return out
}

// foldSaga applies ev to its saga, read with load when the cache does not
// have it; r.applied is false when the fold skips it.
func (b *batch) foldSaga(ev *event, load func(id string) (*sagaEntry, error)) (ent *sagaEntry, r foldResult, err error) {
	c := b.cache.sagas
	id := ev.env.SagaID
	ent, ok := c.entries[id]
	if !ok || ent.shelved {
		// Not in the cache: in the table, unless the cache has every
		// saga of the tables.
		if ok || !b.cache.complete {
			if ent, err = load(id); err != nil {
				return nil, r, err
			}
		}
		if ent == nil {
			ent = &sagaEntry{}
		}
		c.entries[id] = ent
	}
	k := foldKey{prev: ent.state, ev: ev}
	r, ok = b.memo.folds[k]
	if !ok {
		var cur saga.State
		if ent.state != nil {
			cur = *ent.state
		}
		next, applied, err := machine.Fold(cur, ev.env)
		if err == nil && applied {
			r = foldResult{next: &next, step: stepOf(ev.env), at: fmtTime(ev.env.OccurredAt), applied: true}
		}
		b.memo.folds[k] = r
	}
	if r.applied {
		b.keepDefinition(ev)
	}
	if !r.applied {
		return ent, r, nil
	}
	if !ent.dirty {
		c.order = append(c.order, id)
	}
	ent.state, ent.dirty, ent.lastType = r.next, true, string(ev.env.Type)
	if r.step != "" {
		ent.lastStep = r.step
	}
	return ent, r, nil
}

// stateJSON is the stored form of s, its secrets redacted.
func (b *batch) stateJSON(s *saga.State) (string, error) {
	if raw, ok := b.memo.states[s]; ok {
		return raw, nil
	}
	raw, err := encodeState(s)
	if err != nil {
		return "", err
	}
	b.memo.states[s] = raw
	return raw, nil
}

// encodeState is the stored form of s: a read model is for people to
// read, and the payment token is not theirs.
func encodeState(s *saga.State) (string, error) {
	stored := *s
	stored.Data = events.Redact(s.Data)
	raw, err := json.Marshal(&stored)
	return string(raw), err
}

func decodeState(raw string) (*saga.State, error) {
	var s saga.State
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, fmt.Errorf("stored saga state: %w", err)
	}
	return &s, nil
}

// bookingData reads the booking fields of a saga's data.
func (b *batch) bookingData(s *saga.State) events.BookingData {
	if d, ok := b.memo.bookings[s]; ok {
		return d
	}
	var d events.BookingData
	_ = json.Unmarshal(s.Data, &d)
	b.memo.bookings[s] = d
	return d
}

// --- sagas: one row per saga, and its timeline ---

var sagasProjection = &projection{
	name:    ProjectionSagas,
	version: 3, // 2: the watchdog's stuck columns; indexes on actor and definition; 3: each saga's definition version
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
			stuck           TEXT NOT NULL,
			stuck_step      TEXT NOT NULL,
			state           TEXT NOT NULL`,
			// actor and definition: the back office's searches.
			indexes: []string{"status, started_at", "booking_ref, started_at", "started_at", "actor, started_at", "definition, started_at",
				"stuck, started_at"}},
		{name: "saga_events", columns: `
			saga_id TEXT NOT NULL,
			seq     INTEGER NOT NULL,
			type    TEXT NOT NULL,
			step    TEXT NOT NULL,
			at      TEXT`,
			key: "saga_id, seq"},
	},
	apply:       applySagas,
	sharesFolds: true,
}

func applySagas(b *batch, evs []*event) error {
	load := func(id string) (*sagaEntry, error) {
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
	}
	insEvents := b.inserter(b.t("saga_events"), "saga_id, seq, type, step, at")
	rows, err := b.foldSagas(evs, load)
	if err != nil {
		return err
	}
	for _, r := range rows {
		insEvents.add(r.s.SagaID, r.s.Seq, r.typ, r.r.step, r.r.at)
	}
	insEvents.flush()
	upsert := fmt.Sprintf(`INSERT INTO %s (saga_id, booking_ref, definition, status, current_step, actor, reason, seq,
			started_at, last_event_type, last_event_at, stuck, stuck_step, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (saga_id) DO UPDATE SET booking_ref = excluded.booking_ref, definition = excluded.definition,
			status = excluded.status, current_step = excluded.current_step, actor = excluded.actor,
			reason = excluded.reason, seq = excluded.seq, started_at = excluded.started_at,
			last_event_type = excluded.last_event_type, last_event_at = excluded.last_event_at, stuck = excluded.stuck,
			stuck_step = excluded.stuck_step, state = excluded.state`, b.t("sagas"))
	for _, ent := range b.cache.sagas.dirtyEntries() {
		s := ent.state
		raw, err := b.stateJSON(s)
		if err != nil {
			return err
		}
		stuck, stuckStep := "", ""
		if v := projections.StuckOf(*s); v != nil {
			stuck, stuckStep = v.Reason, v.Step
		}
		b.exec(upsert, s.SagaID, s.BookingRef, s.Definition, string(s.Status), ent.lastStep, s.Actor, s.Reason,
			s.Seq, fmtTime(s.StartedAt), ent.lastType, fmtTime(s.UpdatedAt), stuck, stuckStep, raw)
	}
	return nil
}

// sagaEvent is a row of a saga's timeline: the state after the event.
type sagaEvent struct {
	s   *saga.State
	typ string
	r   foldResult
}

// foldSagas folds a batch of saga log events, loading a saga not yet in
// the batch with load, and returns the events that applied, for the
// timeline rows both saga projections write.
func (b *batch) foldSagas(evs []*event, load func(string) (*sagaEntry, error)) ([]sagaEvent, error) {
	var rows []sagaEvent
	for _, ev := range evs {
		ent, r, err := b.foldSaga(ev, load)
		if err != nil {
			return nil, err
		}
		if r.applied {
			rows = append(rows, sagaEvent{ent.state, string(ev.env.Type), r})
		}
		if err := b.applied(); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// --- bookings: one row per booking ref, its timeline; user_bookings view ---

var bookingsProjection = &projection{
	name:    ProjectionBookings,
	version: 2, // 2: a booking is a saga that reserves seats or charges, of any definition
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
			at          TEXT`,
			key:     "saga_id, seq",
			indexes: []string{"booking_ref, at"}},
	},
	apply:       applyBookings,
	sharesFolds: true,
}

// StatusCancelled is a booking whose cancel-booking saga completed.
const StatusCancelled = "cancelled"

func applyBookings(b *batch, evs []*event) error {
	load := func(id string) (*sagaEntry, error) {
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
	}
	insEvents := b.inserter(b.t("booking_events"), "saga_id, seq, booking_ref, type, step, at")
	rows, err := b.foldSagas(evs, load)
	if err != nil {
		return err
	}
	for _, r := range rows {
		insEvents.add(r.s.SagaID, r.s.Seq, r.s.BookingRef, r.typ, r.r.step, r.r.at)
	}
	insEvents.flush()
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
	for _, ent := range b.cache.sagas.dirtyEntries() {
		s := ent.state
		raw, err := b.stateJSON(s)
		if err != nil {
			return err
		}
		b.exec(saveState, s.SagaID, raw)
		switch projections.KindOf(machine, *s) {
		case projections.KindBook:
			d := b.bookingData(s)
			b.exec(book, s.BookingRef, s.SagaID, string(s.Status), d.UserID, d.ShowID, d.Seats, d.AmountCents,
				fmtTime(s.StartedAt), fmtTime(s.UpdatedAt))
		case projections.KindCancel:
			b.exec(cancel, s.BookingRef, s.SagaID, string(s.Status), fmtTime(s.StartedAt), fmtTime(s.UpdatedAt))
		case projections.KindOther:
		}
	}
	return nil
}
