package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// Source is one partition of a logical (unprefixed) topic.
type Source struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// event is a checked record, with where it came from.
type event struct {
	env events.Envelope
	src Source
	rec bus.Record
}

// item is a record read for a projection: checked (err nil) or not.
type item struct {
	rec bus.Record
	src Source
	env events.Envelope
	err error
}

// batch is one transaction of one projection.
type batch struct {
	ctx    context.Context
	tx     *sql.Tx
	db     *DB
	key    string
	suffix string
	n      int
	stmts  map[string]*sql.Stmt
}

// t is the name of a table of the projection in this batch.
func (b *batch) t(name string) string { return name + b.suffix }

func (b *batch) stmt(query string) (*sql.Stmt, error) {
	if s, ok := b.stmts[query]; ok {
		return s, nil
	}
	s, err := b.tx.PrepareContext(b.ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", query, err)
	}
	b.stmts[query] = s
	return s, nil
}

func (b *batch) exec(query string, args ...any) (sql.Result, error) {
	s, err := b.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(b.ctx, args...)
}

func (b *batch) queryRow(query string, args ...any) (*sql.Row, error) {
	s, err := b.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.QueryRowContext(b.ctx, args...), nil
}

// applied is called by the folds after each event; the test hook may
// abort the batch there, as a crash would.
func (b *batch) applied() error {
	b.n++
	if b.db.hook != nil {
		return b.db.hook(b.key, b.n)
	}
	return nil
}

// ErrStale means the stored offsets of a projection are behind where the
// reader thought they were (a rebuild was swapped in meanwhile): the reader
// must read again from the stored offsets.
var ErrStale = errors.New("readmodel: stored offsets moved back; read again from them")

// Applied says what one batch did.
type Applied struct {
	// Applied counts records folded, Skipped records that do not check
	// (they still advance the offsets), Seen records already applied
	// before (ignored).
	Applied, Skipped, Seen int
	// Next is the next offset of each source the batch touched.
	Next map[Source]int64
}

// offsetRow is one row of projection_offsets.
type offsetRow struct {
	Next, Applied, Skipped int64
	LastRecordAt           time.Time
	UpdatedAt              time.Time
}

func loadOffsets(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, key string) (map[Source]offsetRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT topic, partition, next_offset, applied, skipped, last_record_at, updated_at
		FROM projection_offsets WHERE projection = ?`, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[Source]offsetRow{}
	for rows.Next() {
		var s Source
		var r offsetRow
		var last, upd sql.NullString
		if err := rows.Scan(&s.Topic, &s.Partition, &r.Next, &r.Applied, &r.Skipped, &last, &upd); err != nil {
			return nil, err
		}
		r.LastRecordAt, r.UpdatedAt = parseTime(last), parseTime(upd)
		out[s] = r
	}
	return out, rows.Err()
}

// checkRecord reads a record's envelope as every reader of the logs does.
func checkRecord(r bus.Record) (events.Envelope, error) {
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		return e, err
	}
	if e.Key == "" {
		e.Key = string(r.Key)
	}
	return events.Check(e)
}

// topicMap maps the cluster names of p's topics to their logical names.
func topicMap(cfg bus.Config, p *projection) map[string]string {
	m := make(map[string]string, len(p.topics))
	for _, t := range p.topics {
		m[cfg.Topic(t)] = t
	}
	return m
}

func prepare(cfg bus.Config, p *projection, recs []bus.Record) ([]item, error) {
	topics := topicMap(cfg, p)
	items := make([]item, len(recs))
	for i, r := range recs {
		lt, ok := topics[r.Topic]
		if !ok {
			return nil, fmt.Errorf("readmodel: projection %s does not read topic %q", p.name, r.Topic)
		}
		env, err := checkRecord(r)
		items[i] = item{rec: r, src: Source{lt, r.Partition}, env: env, err: err}
	}
	return items, nil
}

// Apply folds records of projection name's topics (cluster names, as read
// from Kafka with cfg) into its live tables in one transaction, together
// with their offsets. Records at offsets below the stored ones were applied
// before and are ignored; records that do not check are skipped but advance
// the offsets. Within a partition records must come in offset order.
func (db *DB) Apply(ctx context.Context, cfg bus.Config, name string, recs []bus.Record) (Applied, error) {
	p, err := lookup(name)
	if err != nil {
		return Applied{}, err
	}
	items, err := prepare(cfg, p, recs)
	if err != nil {
		return Applied{}, err
	}
	return db.applyItems(ctx, p, p.name, "", items, nil)
}

// applyItems is one batch: rows and offsets in one transaction. expect,
// when not nil, is where the caller believes the stored offsets are; a
// stored offset behind it is ErrStale.
func (db *DB) applyItems(ctx context.Context, p *projection, key, suffix string, items []item, expect map[Source]int64) (Applied, error) {
	res := Applied{Next: map[Source]int64{}}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res = Applied{Next: map[Source]int64{}}
		stored, err := loadOffsets(ctx, tx, key)
		if err != nil {
			return err
		}
		for s, want := range expect {
			if stored[s].Next < want {
				return fmt.Errorf("%w: %s %s/%d at %d, expected %d", ErrStale, key, s.Topic, s.Partition, stored[s].Next, want)
			}
		}
		type delta struct {
			applied, skipped int64
			last             time.Time
		}
		next := map[Source]int64{}
		deltas := map[Source]*delta{}
		var evs []event
		for _, it := range items {
			cur, ok := next[it.src]
			if !ok {
				cur = stored[it.src].Next
			}
			if it.rec.Offset < cur {
				res.Seen++
				continue
			}
			next[it.src] = it.rec.Offset + 1
			d := deltas[it.src]
			if d == nil {
				d = &delta{}
				deltas[it.src] = d
			}
			d.last = recordTime(it.rec, it.env)
			if it.err != nil {
				d.skipped++
				res.Skipped++
				continue
			}
			d.applied++
			evs = append(evs, event{env: it.env, src: it.src, rec: it.rec})
		}
		if len(next) == 0 {
			return nil
		}
		b := &batch{ctx: ctx, tx: tx, db: db, key: key, suffix: suffix, stmts: map[string]*sql.Stmt{}}
		if err := p.apply(b, evs); err != nil {
			return fmt.Errorf("readmodel: %s: %w", key, err)
		}
		now := fmtTime(db.now())
		for s, n := range next {
			d := deltas[s]
			if _, err := b.exec(`INSERT INTO projection_offsets
				(projection, topic, partition, next_offset, applied, skipped, last_record_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (projection, topic, partition) DO UPDATE SET
					next_offset = excluded.next_offset,
					applied = projection_offsets.applied + excluded.applied,
					skipped = projection_offsets.skipped + excluded.skipped,
					last_record_at = COALESCE(excluded.last_record_at, projection_offsets.last_record_at),
					updated_at = excluded.updated_at`,
				key, s.Topic, s.Partition, n, d.applied, d.skipped, fmtTime(d.last), now); err != nil {
				return err
			}
			res.Next[s] = n
		}
		res.Applied = len(evs)
		return nil
	})
	return res, err
}

// recordTime is when a record was written: its Kafka timestamp, or the
// time the message says it happened.
func recordTime(r bus.Record, e events.Envelope) time.Time {
	if !r.Timestamp.IsZero() && r.Timestamp.Unix() > 0 {
		return r.Timestamp
	}
	return e.OccurredAt
}
