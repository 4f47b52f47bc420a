package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
)

// kafkaLog is the read models' view of the cluster: logical topic names
// (mapped through cfg) over one bus.Log.
type kafkaLog struct {
	cfg bus.Config
	log *bus.Log
}

func openLog(ctx context.Context, cfg bus.Config) (*kafkaLog, error) {
	if err := bus.WaitReady(ctx, cfg); err != nil {
		return nil, err
	}
	log, err := bus.OpenLog(cfg, bus.LogOptions{})
	if err != nil {
		return nil, fmt.Errorf("readmodel: connect to kafka at %v: %w", cfg.Brokers, err)
	}
	return &kafkaLog{cfg: cfg, log: log}, nil
}

func (l *kafkaLog) Close() error { return l.log.Close() }

// partitions of a logical topic, sorted; none when it does not exist yet.
func (l *kafkaLog) partitions(topic string) ([]int32, error) {
	parts, err := l.log.Partitions(l.cfg.Topic(topic))
	if errors.Is(err, bus.ErrUnknownTopic) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("readmodel: %w", err)
	}
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
	return l.log.Bounds(l.cfg.Topic(s.Topic), s.Partition)
}

// recordAt reads the record at offset (or the first one after it).
func (l *kafkaLog) recordAt(ctx context.Context, s Source, offset int64) (bus.Record, error) {
	return l.log.RecordAt(ctx, l.cfg.Topic(s.Topic), s.Partition, offset)
}

// foldBatch folds items for every target (each the records of its
// topics), ahead of the transaction that writes them: over the cache, or
// over the stored offsets when the cache starts afresh. A target whose
// fold fails is left out, from this batch on, with its error (t.err); the
// others go on, as if each were driven alone. Stale offsets and an ended
// ctx stop every target.
//
// Targets are folded concurrently, each with its own cache and
// statements; those that fold the saga log with the state machine share
// one goroutine and one memo, so that each record is folded once between
// them.
func (db *DB) foldBatch(ctx context.Context, ts []*target, items []item) ([]*folded, error) {
	type outcome struct {
		f   *folded
		its []*item
		err error
	}
	outs := make([]outcome, len(ts))
	var wg sync.WaitGroup
	for _, g := range foldGroups(ts) {
		wg.Go(func() {
			memo := newBatchMemo(0)
			if t := ts[g[0]]; t.p.sharesFolds {
				memo = newBatchMemo(len(items))
				prefold(t, items, memo)
			}
			for _, i := range g {
				t := ts[i]
				its := make([]*item, 0, len(items))
				for j := range items {
					if t.reads(items[j].src.Topic) {
						its = append(its, &items[j])
					}
				}
				f, err := db.foldTarget(ctx, t, its, memo)
				if err == nil {
					err = ctx.Err()
				}
				outs[i] = outcome{f, its, err}
			}
		})
	}
	wg.Wait()
	fs := make([]*folded, 0, len(ts))
	var errs []error
	for i, t := range ts {
		if t.err != nil {
			continue
		}
		o := outs[i]
		if o.err != nil {
			t.cache.invalidate()
			if errors.Is(o.err, ErrStale) || ctx.Err() != nil {
				for _, t := range ts {
					t.cache.invalidate()
				}
				return nil, o.err
			}
			t.err = o.err
			errs = append(errs, o.err)
			continue
		}
		for _, it := range o.its {
			if it.rec.Offset >= t.start[it.src] {
				t.read++
			}
		}
		fs = append(fs, o.f)
	}
	if len(fs) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return fs, nil
}

// foldGroups splits the targets still going (indexes into ts) into the
// groups foldBatch folds concurrently: the state machine's folds of the
// saga log together, every other target alone.
func foldGroups(ts []*target) [][]int {
	var machine []int
	var out [][]int
	for i, t := range ts {
		switch {
		case t.err != nil:
		case t.p.sharesFolds:
			machine = append(machine, i)
		default:
			out = append(out, []int{i})
		}
	}
	if len(machine) > 0 {
		out = append([][]int{machine}, out...)
	}
	return out
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
