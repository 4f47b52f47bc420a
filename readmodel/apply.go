package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
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
type event = item

// item is a record read for a projection: checked (err nil) or not.
type item struct {
	rec bus.Record
	src Source
	env events.Envelope
	err error
	// started is the payload of a SagaStarted that checked, decoded once
	// by the check: several projections read it, and it is the largest
	// payload of the saga log (it carries the definition).
	started *events.SagaStartedV1
}

// checkItem checks a record as read, decoding a SagaStarted's payload
// once for every projection.
func checkItem(cfg bus.Config, r bus.Record, src Source) item {
	env, started, err := bus.CheckLoggedAs[events.SagaStartedV1](cfg, r, events.SagaStarted)
	return item{rec: r, src: src, env: env, err: err, started: started}
}

// startedPayload is the payload of a SagaStarted event.
func (it *item) startedPayload() (events.SagaStartedV1, error) {
	if it.started != nil {
		return *it.started, nil
	}
	return events.Decode[events.SagaStartedV1](it.env)
}

// queryer reads rows: the transaction a batch is folded in, or the
// database when it is folded ahead of its transaction.
type queryer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// batch is one projection's part of one transaction. The folds read rows
// through q (only what the cache does not have) and record their writes,
// which the transaction then executes in order.
type batch struct {
	ctx    context.Context //nolint:containedctx // a batch lives for one transaction, within its context
	q      queryer
	db     *DB
	key    string
	suffix string
	n      int
	reads  map[string]*sql.Stmt
	ops    []op
	// cache is what the projection knows of its tables; memo is shared by
	// every projection of the transaction.
	cache *foldCache
	memo  *batchMemo
	// undecodable counts the events a projection skipped as undecodable.
	undecodable int
	// definitions are the versions the batch has stored (keepDefinition).
	definitions map[string]bool
}

// undecoded counts an event whose payload the projection could not decode
// and skips it: the event changes nothing, and the batch goes on.
func (b *batch) undecoded(error) error {
	b.undecodable++
	return nil
}

// op is one statement a batch writes.
type op struct {
	query string
	args  []any
}

// t is the name of a table of the projection in this batch.
func (b *batch) t(name string) string { return name + b.suffix }

// exec records a write.
func (b *batch) exec(query string, args ...any) {
	b.ops = append(b.ops, op{query, args})
}

// rowsPerInsert is how many rows one statement of an inserter writes: the
// driver's cost of a statement is then shared by several rows.
const rowsPerInsert = 8

// inserter writes rows of a table (one argument per column), several to
// a statement.
type inserter struct {
	b         *batch
	one, many string
	cols      int
	args      []any
}

func (b *batch) inserter(table, cols string) *inserter {
	n := strings.Count(cols, ",") + 1
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	prefix := "INSERT INTO " + table + " (" + cols + ") VALUES "
	return &inserter{b: b, cols: n, one: prefix + row,
		many: prefix + strings.TrimSuffix(strings.Repeat(row+", ", rowsPerInsert), ", ")}
}

// add writes a row.
func (in *inserter) add(args ...any) {
	if in.args == nil {
		in.args = make([]any, 0, in.cols*rowsPerInsert)
	}
	in.args = append(in.args, args...)
	if len(in.args) == cap(in.args) {
		in.b.exec(in.many, in.args...)
		in.args = nil // the write keeps them
	}
}

// flush writes the rows add has not.
func (in *inserter) flush() {
	for i := 0; i < len(in.args); i += in.cols {
		in.b.exec(in.one, in.args[i:i+in.cols]...)
	}
	in.args = nil
}

func (b *batch) queryRow(query string, args ...any) (*sql.Row, error) {
	s, ok := b.reads[query]
	if !ok {
		var err error
		if s, err = b.q.PrepareContext(b.ctx, query); err != nil {
			return nil, fmt.Errorf("prepare %q: %w", query, err)
		}
		b.reads[query] = s
	}
	return s.QueryRowContext(b.ctx, args...), nil
}

func (b *batch) closeReads() {
	for _, s := range b.reads {
		s.Close()
	}
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
	// Undecodable counts records that checked but whose payload a
	// projection could not decode: folded as changing nothing, and counted
	// so that a payload out of step with its type is seen, not lost.
	Undecodable int
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

// nextOffsets are the next offsets of stored.
func nextOffsets(stored map[Source]offsetRow) map[Source]int64 {
	out := make(map[Source]int64, len(stored))
	for s, o := range stored {
		out[s] = o.Next
	}
	return out
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
		items[i] = checkItem(cfg, r, Source{lt, r.Partition})
	}
	return items, nil
}

func pointers(items []item) []*item {
	out := make([]*item, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out
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
	t := newTarget(p, p.name, "")
	var res Applied
	err = db.write(ctx, func(tx *sql.Tx) error {
		stored, err := loadOffsets(ctx, tx, t.key)
		if err != nil {
			return err
		}
		t.cache.reset(len(stored) == 0)
		f, err := db.fold(ctx, tx, t, pointers(items), nextOffsets(stored), newBatchMemo(len(items)))
		if err != nil {
			return err
		}
		res = f.res
		return f.write(ctx, tx)
	})
	return res, err
}

// target is a projection as one call applies it: under key ("NAME" or
// "NAME#next"), to the tables with suffix, with what it knows of them.
type target struct {
	p      *projection
	key    string
	suffix string
	cache  *foldCache
	// expect is where the reader believes the stored offsets are; a stored
	// offset behind it is ErrStale.
	expect map[Source]int64
	// start is where the current pass began reading each source for this
	// projection; read counts the records read from there on.
	start map[Source]int64
	read  int
	// err is why t was left out of the rest of a drive (its fold failed
	// while the others' did not).
	err error
}

func newTarget(p *projection, key, suffix string) *target {
	return &target{p: p, key: key, suffix: suffix, cache: newFoldCache(), expect: map[Source]int64{}}
}

// reads reports whether t folds topic.
func (t *target) reads(topic string) bool { return slices.Contains(t.p.topics, topic) }

// folded is one batch of one projection, folded over the stored offsets
// base, with the statements that write it.
type folded struct {
	t    *target
	base map[Source]int64
	ops  []op
	res  Applied
}

// fold folds items (records of t's topics) over t's cache, as if the
// stored offsets were base; rows the cache lacks are read through q. It
// leaves the cache as it will be once the batch commits.
func (db *DB) fold(ctx context.Context, q queryer, t *target, items []*item, base map[Source]int64, memo *batchMemo) (*folded, error) {
	f := &folded{t: t, base: base, res: Applied{Next: map[Source]int64{}}}
	type delta struct {
		applied, skipped int64
		last             time.Time
	}
	next := map[Source]int64{}
	deltas := map[Source]*delta{}
	var order []Source
	evs := make([]*event, 0, len(items))
	for _, it := range items {
		cur, ok := next[it.src]
		if !ok {
			cur = base[it.src]
		}
		if it.rec.Offset < cur {
			f.res.Seen++
			continue
		}
		next[it.src] = it.rec.Offset + 1
		d := deltas[it.src]
		if d == nil {
			d = &delta{}
			deltas[it.src] = d
			order = append(order, it.src)
		}
		d.last = recordTime(it.rec, it.env)
		if it.err != nil && !t.p.raw {
			d.skipped++
			f.res.Skipped++
			continue
		}
		d.applied++
		evs = append(evs, it)
	}
	if len(next) == 0 {
		return f, nil
	}
	t.cache.trim()
	t.cache.sagas.clean()
	b := &batch{ctx: ctx, q: q, db: db, key: t.key, suffix: t.suffix, reads: map[string]*sql.Stmt{},
		cache: t.cache, memo: memo}
	defer b.closeReads()
	if err := t.p.apply(b, evs); err != nil {
		return nil, fmt.Errorf("readmodel: %s: %w", t.key, err)
	}
	f.res.Undecodable = b.undecodable
	now := fmtTime(db.now())
	for _, s := range order {
		d, n := deltas[s], next[s]
		b.exec(`INSERT INTO projection_offsets
			(projection, topic, partition, next_offset, applied, skipped, last_record_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (projection, topic, partition) DO UPDATE SET
				next_offset = excluded.next_offset,
				applied = projection_offsets.applied + excluded.applied,
				skipped = projection_offsets.skipped + excluded.skipped,
				last_record_at = COALESCE(excluded.last_record_at, projection_offsets.last_record_at),
				updated_at = excluded.updated_at`,
			t.key, s.Topic, s.Partition, n, d.applied, d.skipped, fmtTime(d.last), now)
		f.res.Next[s] = n
	}
	f.ops = b.ops
	f.res.Applied = len(evs)
	after := make(map[Source]int64, len(base)+len(next))
	for s, n := range base {
		after[s] = n
	}
	for s, n := range next {
		after[s] = n
	}
	t.cache.folded(after)
	return f, nil
}

// write executes f's statements in tx.
func (f *folded) write(ctx context.Context, tx *sql.Tx) error {
	// The driver watches a context that can end from a goroutine of its
	// own, one per statement: cancellation is checked here instead, and
	// the transaction ends with ctx anyway.
	run := context.WithoutCancel(ctx)
	stmts := map[string]*sql.Stmt{}
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	for i, o := range f.ops {
		if i%512 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		s, ok := stmts[o.query]
		if !ok {
			var err error
			if s, err = tx.PrepareContext(run, o.query); err != nil {
				return fmt.Errorf("readmodel: %s: prepare %q: %w", f.t.key, o.query, err)
			}
			stmts[o.query] = s
		}
		if _, err := s.ExecContext(run, o.args...); err != nil {
			return fmt.Errorf("readmodel: %s: %w", f.t.key, err)
		}
	}
	return ctx.Err()
}

// recordTime is when a record was written: its Kafka timestamp, or the
// time the message says it happened.
func recordTime(r bus.Record, e events.Envelope) time.Time {
	if !r.Timestamp.IsZero() && r.Timestamp.Unix() > 0 {
		return r.Timestamp
	}
	return e.OccurredAt
}
