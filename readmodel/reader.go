package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// kafkaLog is one connection to the cluster, for metadata and offsets;
// reading opens a consumer with a connection of its own (newConsumer).
type kafkaLog struct {
	cfg    bus.Config
	conf   *sarama.Config
	client sarama.Client
}

func openLog(ctx context.Context, cfg bus.Config) (*kafkaLog, error) {
	if err := bus.WaitReady(ctx, cfg); err != nil {
		return nil, err
	}
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, conf)
	if err != nil {
		return nil, fmt.Errorf("readmodel: connect to kafka at %v: %w", cfg.Brokers, err)
	}
	return &kafkaLog{cfg: cfg, conf: conf, client: client}, nil
}

func (l *kafkaLog) Close() error { return l.client.Close() }

// newConsumer opens a consumer on a connection of its own: on the shared
// one, the offset requests of the next pass would queue behind its fetches'
// long polls, and closing it would wait for them.
func (l *kafkaLog) newConsumer() (sarama.Consumer, func(), error) {
	client, err := sarama.NewClient(l.cfg.Brokers, l.conf)
	if err != nil {
		return nil, nil, fmt.Errorf("readmodel: connect to kafka at %v: %w", l.cfg.Brokers, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("readmodel: consumer: %w", err)
	}
	return consumer, func() {
		consumer.Close()
		client.Close()
	}, nil
}

// partitions of a logical topic, sorted; none when it does not exist yet.
func (l *kafkaLog) partitions(topic string) ([]int32, error) {
	parts, err := l.client.Partitions(l.cfg.Topic(topic))
	if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("readmodel: partitions of %s: %w", l.cfg.Topic(topic), err)
	}
	parts = slices.Clone(parts)
	slices.Sort(parts)
	return parts, nil
}

// sources lists every partition of the topics.
func (l *kafkaLog) sources(topics []string) ([]Source, error) {
	var out []Source
	for _, t := range topics {
		parts, err := l.partitions(t)
		if err != nil {
			return nil, err
		}
		for _, p := range parts {
			out = append(out, Source{Topic: t, Partition: p})
		}
	}
	return out, nil
}

// bounds are the oldest stored offset and the high-water mark.
func (l *kafkaLog) bounds(s Source) (oldest, end int64, err error) {
	topic := l.cfg.Topic(s.Topic)
	if oldest, err = bus.Offset(l.client, topic, s.Partition, sarama.OffsetOldest); err != nil {
		return 0, 0, fmt.Errorf("readmodel: oldest offset of %s/%d: %w", topic, s.Partition, err)
	}
	if end, err = bus.Offset(l.client, topic, s.Partition, sarama.OffsetNewest); err != nil {
		return 0, 0, fmt.Errorf("readmodel: end of %s/%d: %w", topic, s.Partition, err)
	}
	return oldest, end, nil
}

// recordAt reads the record at offset (or the first one after it) with
// one fetch request to the partition's leader: a consumer would cost a
// long poll of its own on the shared connection.
func (l *kafkaLog) recordAt(s Source, offset int64) (bus.Record, error) {
	topic := l.cfg.Topic(s.Topic)
	broker, err := l.client.Leader(topic, s.Partition)
	if err != nil {
		return bus.Record{}, fmt.Errorf("readmodel: leader of %s/%d: %w", topic, s.Partition, err)
	}
	req := &sarama.FetchRequest{Version: 11, MinBytes: 1, MaxWaitTime: 100, MaxBytes: 1 << 20,
		Isolation: sarama.ReadCommitted, SessionID: 0, SessionEpoch: -1}
	req.AddBlock(topic, s.Partition, offset, 1<<20, -1)
	resp, err := broker.Fetch(req)
	if err != nil {
		return bus.Record{}, fmt.Errorf("readmodel: fetch %s/%d at %d: %w", topic, s.Partition, offset, err)
	}
	block := resp.GetBlock(topic, s.Partition)
	if block == nil {
		return bus.Record{}, fmt.Errorf("readmodel: fetch %s/%d at %d: no answer for the partition", topic, s.Partition, offset)
	}
	if block.Err != sarama.ErrNoError {
		return bus.Record{}, fmt.Errorf("readmodel: fetch %s/%d at %d: %w", topic, s.Partition, offset, block.Err)
	}
	for _, set := range block.RecordsSet {
		b := set.RecordBatch
		if b == nil || b.Control {
			continue
		}
		for _, r := range b.Records {
			off := b.FirstOffset + r.OffsetDelta
			if off < offset {
				continue
			}
			ts := b.FirstTimestamp.Add(r.TimestampDelta)
			if b.LogAppendTime {
				ts = b.MaxTimestamp
			}
			headers := make(map[string]string, len(r.Headers))
			for _, h := range r.Headers {
				if h != nil {
					headers[string(h.Key)] = string(h.Value)
				}
			}
			return bus.Record{Topic: topic, Partition: s.Partition, Offset: off, Key: r.Key, Headers: headers,
				Value: r.Value, Timestamp: ts}, nil
		}
	}
	return bus.Record{}, fmt.Errorf("readmodel: fetch %s/%d at %d: no record", topic, s.Partition, offset)
}

// toRecord is m as a record, its headers in headers (cleared first).
func toRecord(m *sarama.ConsumerMessage, headers map[string]string) bus.Record {
	clear(headers)
	for _, h := range m.Headers {
		if h != nil {
			headers[headerName(h.Key)] = string(h.Value)
		}
	}
	return bus.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key,
		Headers: headers, Value: m.Value, Timestamp: m.Timestamp}
}

// headerName is string(k), without a copy for the names every record has.
func headerName(k []byte) string {
	switch string(k) {
	case events.HeaderID:
		return events.HeaderID
	case events.HeaderType:
		return events.HeaderType
	case events.HeaderVersion:
		return events.HeaderVersion
	case events.HeaderSagaID:
		return events.HeaderSagaID
	case events.HeaderCorrelationID:
		return events.HeaderCorrelationID
	case events.HeaderCausationID:
		return events.HeaderCausationID
	case events.HeaderActor:
		return events.HeaderActor
	case events.HeaderOccurredAt:
		return events.HeaderOccurredAt
	}
	return string(k)
}

// delivery is what a partition's reader hands the batcher.
type delivery struct {
	it   item
	done bool // the partition reached the end it was read to
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

func (db *DB) drivePass(ctx context.Context, l *kafkaLog, ts []*target, size int, follow bool) (int, error) {
	ts = slices.DeleteFunc(slices.Clone(ts), func(t *target) bool { return t.err != nil })
	if len(ts) == 0 {
		return 0, nil
	}
	var topics []string
	stored := make([]map[Source]offsetRow, len(ts))
	for i, t := range ts {
		var err error
		if stored[i], err = loadOffsets(ctx, db.sql, t.key); err != nil {
			return 0, err
		}
		if t.cache.valid && !sameOffsets(stored[i], t.cache.offs) {
			// Written by someone else since (a rebuild swapped in).
			t.cache.invalidate()
		}
		t.expect, t.start = map[Source]int64{}, map[Source]int64{}
		for _, topic := range t.p.topics {
			if !slices.Contains(topics, topic) {
				topics = append(topics, topic)
			}
		}
	}
	srcs, err := l.sources(topics)
	if err != nil {
		return 0, err
	}
	type reading struct {
		src        Source
		start, end int64
	}
	var reads []reading
	for _, s := range srcs {
		oldest, end, err := l.bounds(s)
		if err != nil {
			return 0, err
		}
		// Read from where the target furthest behind is; the others
		// ignore what they applied before.
		start := int64(-1)
		for i, t := range ts {
			if t.reads(s.Topic) {
				from := max(stored[i][s].Next, oldest)
				if start < 0 || from < start {
					start = from
				}
			}
		}
		if !follow && start >= end {
			continue
		}
		reads = append(reads, reading{s, start, end})
		for i, t := range ts {
			if t.reads(s.Topic) {
				t.expect[s] = stored[i][s].Next
				t.start[s] = max(stored[i][s].Next, oldest)
			}
		}
	}
	if len(reads) == 0 && !follow {
		return 0, nil
	}
	consumer, closeConsumer, err := l.newConsumer()
	if err != nil {
		return 0, err
	}
	defer closeConsumer()
	ctx, cancel := context.WithCancel(ctx)
	var pcs []sarama.PartitionConsumer
	defer func() {
		cancel()
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	out := make(chan delivery, min(4*size, maxBuffered))
	for _, r := range reads {
		pc, err := consumer.ConsumePartition(l.cfg.Topic(r.src.Topic), r.src.Partition, r.start)
		if err != nil {
			return 0, fmt.Errorf("readmodel: read %s/%d from %d: %w", l.cfg.Topic(r.src.Topic), r.src.Partition, r.start, err)
		}
		pcs = append(pcs, pc)
		end := int64(-1)
		if !follow {
			end = r.end
		}
		go readPartition(ctx, pc, r.src, end, out)
	}

	// Following, look now and then for new partitions, and for stored
	// offsets moved back under us (a rebuild swapped in by another
	// process) even when no record arrives to find out with.
	var check, stale <-chan time.Time
	if follow {
		t := time.NewTicker(partitionCheckInterval)
		defer t.Stop()
		check = t.C
		st := time.NewTicker(staleCheckInterval)
		defer st.Stop()
		stale = st.C
	}
	remaining, read := len(reads), 0
	batch := make([]item, 0, size)
	// The first batches are smaller, so that folding and writing start
	// while the rest is still being read.
	limit := max(min(size, DefaultBatchSize), size/8)
	// One batch is written while the next is read and folded: inflight
	// is the result of the transaction under way, wrote what it wrote.
	var inflight chan error
	var wrote []*folded
	// landed takes the result of the transaction under way.
	landed := func(err error) error {
		inflight = nil
		if err != nil {
			for _, t := range ts {
				t.cache.invalidate()
			}
			return err
		}
		for _, f := range wrote {
			for s, n := range f.res.Next {
				f.t.expect[s] = n
			}
		}
		return nil
	}
	wait := func() error {
		if inflight == nil {
			return nil
		}
		return landed(<-inflight)
	}
	defer func() { _ = wait() }()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		fs, err := db.foldBatch(ctx, ts, batch)
		if err != nil {
			_ = wait()
			return err
		}
		if err := wait(); err != nil {
			return err
		}
		read += len(batch)
		// What was folded no longer refers to the items.
		clear(batch)
		batch = batch[:0]
		limit = min(size, 2*limit)
		ch := make(chan error, 1)
		go func() { ch <- db.writeBatch(ctx, fs) }()
		inflight, wrote = ch, fs
		return nil
	}
	take := func(d delivery) error {
		switch {
		case d.err != nil:
			return d.err
		case d.done:
			remaining--
		default:
			batch = append(batch, d.it)
		}
		return nil
	}
	linger := time.NewTimer(time.Hour)
	defer linger.Stop()
	for follow || remaining > 0 {
		select {
		case <-ctx.Done():
			return read, ctx.Err()
		case <-check:
			now, err := l.sources(topics)
			if err != nil {
				return read, err
			}
			if len(now) != len(srcs) {
				return read, errRepartition
			}
			continue
		case <-stale:
			for _, t := range ts {
				stored, err := loadOffsets(ctx, db.sql, t.key)
				if err != nil {
					return read, err
				}
				for s, want := range t.expect {
					if stored[s].Next < want {
						return read, ErrStale
					}
				}
			}
			continue
		case err := <-inflight:
			if err := landed(err); err != nil {
				return read, err
			}
			continue
		case d := <-out:
			if err := take(d); err != nil {
				return read, err
			}
		}
		// Gather what is ready, and what comes within a short linger,
		// up to a batch.
	gather:
		for len(batch) < limit && (follow || remaining > 0) {
			select {
			case d := <-out:
				if err := take(d); err != nil {
					return read, err
				}
				continue
			default:
			}
			linger.Reset(batchLinger)
			select {
			case d := <-out:
				if err := take(d); err != nil {
					return read, err
				}
			case <-linger.C:
				break gather
			case <-ctx.Done():
				return read, ctx.Err()
			}
		}
		if err := flush(); err != nil {
			return read, err
		}
	}
	if err := flush(); err != nil {
		return read, err
	}
	return read, wait()
}

// foldBatch folds items for every target (each the records of its
// topics), ahead of the transaction that writes them: over the cache, or
// over the stored offsets when the cache starts afresh. A target whose
// fold fails is left out, from this batch on, with its error (t.err); the
// others go on, as if each were driven alone. Stale offsets and an ended
// ctx stop every target.
func (db *DB) foldBatch(ctx context.Context, ts []*target, items []item) ([]*folded, error) {
	memo := newBatchMemo(len(items))
	fs := make([]*folded, 0, len(ts))
	var errs []error
	for _, t := range ts {
		if t.err != nil {
			continue
		}
		its := make([]*item, 0, len(items))
		for i := range items {
			if t.reads(items[i].src.Topic) {
				its = append(its, &items[i])
			}
		}
		f, err := db.foldTarget(ctx, t, its, memo)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			t.cache.invalidate()
			if errors.Is(err, ErrStale) || ctx.Err() != nil {
				for _, t := range ts {
					t.cache.invalidate()
				}
				return nil, err
			}
			t.err = err
			errs = append(errs, err)
			continue
		}
		for _, it := range its {
			if it.rec.Offset >= t.start[it.src] {
				t.read++
			}
		}
		fs = append(fs, f)
	}
	if len(fs) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fs, nil
}

func (db *DB) foldTarget(ctx context.Context, t *target, items []*item, memo *batchMemo) (*folded, error) {
	if !t.cache.valid {
		stored, err := loadOffsets(ctx, db.sql, t.key)
		if err != nil {
			return nil, err
		}
		for s, want := range t.expect {
			if stored[s].Next < want {
				return nil, fmt.Errorf("%w: %s %s/%d at %d, expected %d", ErrStale, t.key, s.Topic, s.Partition, stored[s].Next, want)
			}
		}
		t.cache.reset(len(stored) == 0)
		t.cache.offs = nextOffsets(stored)
	}
	return db.fold(ctx, db.sql, t, items, t.cache.offs, memo)
}

// writeBatch writes folded batches in one transaction, provided the
// stored offsets are still those they were folded over.
func (db *DB) writeBatch(ctx context.Context, fs []*folded) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		for _, f := range fs {
			if len(f.ops) == 0 {
				continue
			}
			stored, err := loadOffsets(ctx, tx, f.t.key)
			if err != nil {
				return err
			}
			if !sameOffsets(stored, f.base) {
				return fmt.Errorf("%w: %s was written by another reader", ErrStale, f.t.key)
			}
			if err := f.write(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// maxBuffered bounds the records read ahead of the batch being gathered.
const maxBuffered = 1 << 16

const (
	batchLinger            = 5 * time.Millisecond
	partitionCheckInterval = 30 * time.Second
	staleCheckInterval     = time.Second
)

// readPartition hands pc's records to out until end (exclusive; -1 to
// follow) or ctx ends.
func readPartition(ctx context.Context, pc sarama.PartitionConsumer, src Source, end int64, out chan<- delivery) {
	headers := map[string]string{}
	send := func(d delivery) bool {
		select {
		case out <- d:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err, ok := <-pc.Errors():
			if ok {
				send(delivery{err: fmt.Errorf("readmodel: read %s/%d: %w", src.Topic, src.Partition, err)})
				return
			}
		case m, ok := <-pc.Messages():
			if !ok {
				send(delivery{err: fmt.Errorf("readmodel: read %s/%d: partition consumer stopped", src.Topic, src.Partition)})
				return
			}
			if end >= 0 && m.Offset >= end {
				send(delivery{done: true})
				return
			}
			r := toRecord(m, headers)
			env, err := checkRecord(r)
			// The envelope has what the folds read of the headers; the
			// map is the next record's.
			r.Headers = nil
			if !send(delivery{it: item{rec: r, src: src, env: env, err: err}}) {
				return
			}
			if end >= 0 && m.Offset >= end-1 {
				send(delivery{done: true})
				return
			}
		}
	}
}
