package webhook

import (
	"context"
	"time"
)

// The sender resumes reading the saga log where it was, not at the oldest
// record. To name an end event (booking.completed or .cancelled, ...) it
// needs the definition of its saga, which only the saga's start says, so
// a resume point is the next offset of each partition together with the
// definitions of the sagas started before it and not yet ended, written
// in one transaction. A kill between two checkpoints rereads what came
// after the last one: a delivery has a deterministic id and the offsets
// table says which ends were already turned into deliveries, so nothing is
// created twice or lost. A store without a resume point for the topic
// (new, or written by a build before resume points) reads from the oldest
// record once.

// checkpointEvery is how often, at most, the sender writes its resume
// point while records arrive.
const checkpointEvery = time.Second

func (s *Store) migrateResume() error {
	_, err := s.db.Exec(`
CREATE TABLE IF NOT EXISTS resume (topic TEXT NOT NULL, partition INTEGER NOT NULL, next INTEGER NOT NULL,
	PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS running (topic TEXT NOT NULL, saga_id TEXT NOT NULL, definition TEXT NOT NULL,
	PRIMARY KEY (topic, saga_id));`)
	return err
}

// resumePoint is where to read topic from, per partition, and the
// definitions of the sagas running there; from is empty when the store has
// no resume point for topic.
func (s *Store) resumePoint(ctx context.Context, topic string) (from map[int32]int64, defs map[string]string, err error) {
	from, defs = map[int32]int64{}, map[string]string{}
	rows, err := s.db.QueryContext(ctx, `SELECT partition, next FROM resume WHERE topic = ?`, topic)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var p int32
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		from[p] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT saga_id, definition FROM running WHERE topic = ?`, topic)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, def string
		if err := rows.Scan(&id, &def); err != nil {
			return nil, nil, err
		}
		defs[id] = def
	}
	return from, defs, rows.Err()
}

// checkpoint writes a resume point: the partitions' next offsets, the
// sagas started since the last one and still running, and the ones ended.
func (s *Store) checkpoint(ctx context.Context, topic string, next map[int32]int64, started map[string]string, ended map[string]bool) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for id, def := range started {
		if _, err := tx.ExecContext(ctx, `INSERT INTO running (topic, saga_id, definition) VALUES (?, ?, ?)
			ON CONFLICT (topic, saga_id) DO UPDATE SET definition = excluded.definition`, topic, id, def); err != nil {
			return err
		}
	}
	for id := range ended {
		if _, err := tx.ExecContext(ctx, `DELETE FROM running WHERE topic = ? AND saga_id = ?`, topic, id); err != nil {
			return err
		}
	}
	for p, n := range next {
		if _, err := tx.ExecContext(ctx, `INSERT INTO resume (topic, partition, next) VALUES (?, ?, ?)
			ON CONFLICT (topic, partition) DO UPDATE SET next = excluded.next`, topic, p, n); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// tracker is the sender's view of the saga log between checkpoints.
type tracker struct {
	defs    map[string]string // running sagas' definitions
	next    map[int32]int64   // per partition, the offset after the last record read
	started map[string]string // since the last checkpoint
	ended   map[string]bool   // since the last checkpoint, started before it
	dirty   bool
	last    time.Time
}

func newTracker(defs map[string]string, now time.Time) *tracker {
	return &tracker{defs: defs, next: map[int32]int64{}, started: map[string]string{}, ended: map[string]bool{}, last: now}
}

func (t *tracker) start(sagaID, definition string) {
	t.defs[sagaID] = definition
	t.started[sagaID] = definition
	delete(t.ended, sagaID)
}

// end forgets a saga that has ended for good.
func (t *tracker) end(sagaID string) {
	delete(t.defs, sagaID)
	if _, ok := t.started[sagaID]; ok {
		delete(t.started, sagaID) // never written: nothing to delete
	} else {
		t.ended[sagaID] = true
	}
}

func (t *tracker) read(partition int32, offset int64) {
	t.next[partition] = offset + 1
	t.dirty = true
}

// due says whether a checkpoint should be written now.
func (t *tracker) due(now time.Time) bool { return t.dirty && now.Sub(t.last) >= checkpointEvery }

// written starts the next interval after a checkpoint.
func (t *tracker) written(now time.Time) {
	t.started, t.ended = map[string]string{}, map[string]bool{}
	t.dirty, t.last = false, now
}
