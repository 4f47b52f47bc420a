package readmodel

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/sagaflow/saga/bus"
)

// delivery is what the reader hands the batcher: a record, the end of
// every bounded range, or why reading stopped.
type delivery struct {
	it   item
	done bool // every range reached the end it was read to
	err  error
}

// errRepartition means a source topic's partitions changed while following.
var errRepartition = errors.New("readmodel: partitions changed")

// drive applies the records of the targets' topics from their stored
// offsets, in batches of at most size records, each one transaction for
// every target. Without follow it reads to the ends the log has when it
// starts and returns; with follow it keeps going until ctx ends. It returns
// the number of records it read.
func (db *DB) drive(ctx context.Context, l *kafkaLog, ts []*target, size int, follow bool) (int, error) {
	total := 0
	for {
		n, err := db.drivePass(ctx, l, ts, size, follow)
		total += n
		if errors.Is(err, ErrStale) || errors.Is(err, errRepartition) {
			if ctx.Err() != nil {
				return total, ctx.Err()
			}
			continue
		}
		return total, err
	}
}

// drivePass reads the logs once from the stored offsets: to their ends,
// or, following, until ctx ends, the partitions change or another reader
// moves the stored offsets.
func (db *DB) drivePass(ctx context.Context, l *kafkaLog, ts []*target, size int, follow bool) (int, error) {
	ps := &pass{db: db, l: l, size: size, follow: follow}
	ps.ts = slices.DeleteFunc(slices.Clone(ts), func(t *target) bool { return t.err != nil })
	if len(ps.ts) == 0 {
		return 0, nil
	}
	if err := ps.plan(ctx); err != nil {
		return 0, err
	}
	if len(ps.reads) == 0 && !follow {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	reading := ps.read(ctx)
	defer func() {
		cancel()
		<-reading
	}()
	defer func() { _ = ps.wait() }()
	err := ps.run(ctx)
	if err == nil {
		err = ps.flush(ctx)
	}
	if err == nil {
		err = ps.wait()
	}
	return ps.count, err
}

// pass is one drivePass: plan works out where each partition is read from,
// read starts reading, gather collects a batch and flush folds it, then
// writes it while the next one is gathered.
type pass struct {
	db     *DB
	l      *kafkaLog
	ts     []*target
	size   int
	follow bool

	topics []string
	srcs   []Source
	reads  []bus.Range
	from   []Source // the source of each read

	out      chan delivery
	finished bool // every bounded range is read
	count    int  // records folded
	batch    []item
	// limit is the size of the batch being gathered: the first batches
	// are smaller, so that folding and writing start while the rest is
	// still being read.
	limit int
	// One batch is written while the next is read and folded: inflight
	// is the result of the transaction under way, wrote what it wrote.
	inflight chan error
	wrote    []*folded
}

// plan loads each target's stored offsets and finds, per partition of
// their topics, the offset of the target furthest behind and the end to
// read to.
func (ps *pass) plan(ctx context.Context) error {
	stored := make([]map[Source]offsetRow, len(ps.ts))
	for i, t := range ps.ts {
		var err error
		if stored[i], err = loadOffsets(ctx, ps.db.sql, t.key); err != nil {
			return err
		}
		if t.cache.valid && !sameOffsets(stored[i], t.cache.offs) {
			// Written by someone else since (a rebuild swapped in).
			t.cache.invalidate()
		}
		t.expect, t.start = map[Source]int64{}, map[Source]int64{}
		for _, topic := range t.p.topics {
			if !slices.Contains(ps.topics, topic) {
				ps.topics = append(ps.topics, topic)
			}
		}
	}
	var err error
	if ps.srcs, err = ps.l.sources(ps.topics); err != nil {
		return err
	}
	for _, s := range ps.srcs {
		oldest, end, err := ps.l.bounds(s)
		if err != nil {
			return err
		}
		// Read from where the target furthest behind is; the others
		// ignore what they applied before.
		start := int64(-1)
		for i, t := range ps.ts {
			if t.reads(s.Topic) {
				from := max(stored[i][s].Next, oldest)
				if start < 0 || from < start {
					start = from
				}
			}
		}
		if !ps.follow && start >= end {
			continue
		}
		if ps.follow {
			end = -1
		}
		ps.reads = append(ps.reads, bus.Range{Topic: ps.l.cfg.Topic(s.Topic), Partition: s.Partition, From: start, End: end})
		ps.from = append(ps.from, s)
		for i, t := range ps.ts {
			if t.reads(s.Topic) {
				t.expect[s] = stored[i][s].Next
				t.start[s] = max(stored[i][s].Next, oldest)
			}
		}
	}
	return nil
}

// read starts reading the planned ranges into ps.out, each record checked
// on its partition's goroutine; the channel it returns closes when reading
// has stopped.
func (ps *pass) read(ctx context.Context) <-chan struct{} {
	ps.out = make(chan delivery, min(4*ps.size, maxBuffered))
	send := func(d delivery) error {
		select {
		case ps.out <- d:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	stopped := make(chan struct{})
	keep := map[string]bool{}
	for _, t := range ps.ts {
		for _, topic := range t.p.topics {
			keep[topic] = keep[topic] || t.p.raw
		}
	}
	go func() {
		defer close(stopped)
		err := ps.l.log.ReadRanges(ctx, ps.reads, func(i int, r bus.Record) error {
			it := checkItem(ps.l.cfg, r, ps.from[i])
			// The envelope has what the folds read of the headers; the
			// map is the next record's. A raw projection reads the
			// headers themselves.
			if keep[ps.from[i].Topic] {
				it.rec.Headers = maps.Clone(r.Headers)
			} else {
				it.rec.Headers = nil
			}
			return send(delivery{it: it})
		})
		if ctx.Err() != nil {
			return
		}
		_ = send(delivery{done: err == nil, err: err})
	}()
	return stopped
}

// run takes deliveries, gathers them into batches and flushes each, until
// every range is read (or, following, until ctx ends, the partitions
// change or the stored offsets move back).
func (ps *pass) run(ctx context.Context) error {
	// Following, look now and then for new partitions, and for stored
	// offsets moved back under us (a rebuild swapped in by another
	// process) even when no record arrives to find out with.
	var check, stale <-chan time.Time
	if ps.follow {
		t := time.NewTicker(partitionCheckInterval)
		defer t.Stop()
		check = t.C
		st := time.NewTicker(staleCheckInterval)
		defer st.Stop()
		stale = st.C
	}
	ps.batch = make([]item, 0, ps.size)
	ps.limit = max(min(ps.size, DefaultBatchSize), ps.size/8)
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	for ps.follow || !ps.finished {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-check:
			if err := ps.checkPartitions(); err != nil {
				return err
			}
			continue
		case <-stale:
			if err := ps.checkStale(ctx); err != nil {
				return err
			}
			continue
		case err := <-ps.inflight:
			if err := ps.landed(err); err != nil {
				return err
			}
			continue
		case d := <-ps.out:
			if err := ps.take(d); err != nil {
				return err
			}
		}
		if err := ps.gather(ctx, linger); err != nil {
			return err
		}
		if err := ps.flush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// gather adds what is ready, and what comes within a short linger, to the
// batch, up to its limit.
func (ps *pass) gather(ctx context.Context, linger *time.Timer) error {
	for len(ps.batch) < ps.limit && (ps.follow || !ps.finished) {
		select {
		case d := <-ps.out:
			if err := ps.take(d); err != nil {
				return err
			}
			continue
		default:
		}
		linger.Reset(batchLinger)
		select {
		case d := <-ps.out:
			if err := ps.take(d); err != nil {
				return err
			}
		case <-linger.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (ps *pass) take(d delivery) error {
	switch {
	case d.err != nil:
		return d.err
	case d.done:
		ps.finished = true
	default:
		ps.batch = append(ps.batch, d.it)
	}
	return nil
}

// flush folds the batch and starts writing it once the write before has
// landed.
func (ps *pass) flush(ctx context.Context) error {
	if len(ps.batch) == 0 {
		return nil
	}
	fs, err := ps.db.foldBatch(ctx, ps.ts, ps.batch)
	if err != nil {
		_ = ps.wait()
		return err
	}
	if err := ps.wait(); err != nil {
		return err
	}
	ps.count += len(ps.batch)
	// What was folded no longer refers to the items.
	clear(ps.batch)
	ps.batch = ps.batch[:0]
	ps.limit = min(ps.size, 2*ps.limit)
	ch := make(chan error, 1)
	go func() { ch <- ps.db.writeBatch(ctx, fs) }()
	ps.inflight, ps.wrote = ch, fs
	return nil
}

// landed takes the result of the transaction under way.
func (ps *pass) landed(err error) error {
	ps.inflight = nil
	if err != nil {
		for _, t := range ps.ts {
			t.cache.invalidate()
		}
		return err
	}
	for _, f := range ps.wrote {
		for s, n := range f.res.Next {
			f.t.expect[s] = n
		}
	}
	return nil
}

// wait waits for the transaction under way, if any.
func (ps *pass) wait() error {
	if ps.inflight == nil {
		return nil
	}
	return ps.landed(<-ps.inflight)
}

func (ps *pass) checkPartitions() error {
	now, err := ps.l.sources(ps.topics)
	if err != nil {
		return err
	}
	if len(now) != len(ps.srcs) {
		return errRepartition
	}
	return nil
}

func (ps *pass) checkStale(ctx context.Context) error {
	for _, t := range ps.ts {
		stored, err := loadOffsets(ctx, ps.db.sql, t.key)
		if err != nil {
			return err
		}
		for s, want := range t.expect {
			if stored[s].Next < want {
				return ErrStale
			}
		}
	}
	return nil
}
