package orchestrator

import (
	"context"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// writeAsync encodes and writes a captured snapshot in the background;
// false when one of the partition is being written already.
func (o *Orchestrator) writeAsync(ps pendingSnapshot) bool {
	p := ps.snap.Partition
	o.writingMu.Lock()
	if o.writing[p] {
		o.writingMu.Unlock()
		return false
	}
	o.writing[p] = true
	o.writingMu.Unlock()
	o.writers.Add(1)
	go func() {
		defer o.writers.Done()
		defer func() {
			o.writingMu.Lock()
			delete(o.writing, p)
			o.writingMu.Unlock()
		}()
		o.write(ps)
	}()
	return true
}

func (o *Orchestrator) write(ps pendingSnapshot) {
	s := ps.snap
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), snapshotWriteTimeout)
	defer cancel()
	var err error
	if s.Covers <= 0 {
		return // an empty partition: nothing to spare a recovery
	}
	if ps.needLastID {
		var rec bus.Record
		if rec, err = o.readRecord(ctx, o.logTopic(), s.Partition, s.Covers-1); err == nil {
			s.LastID = rec.Headers[events.HeaderID]
		}
	}
	var size, chunks int
	var first int64
	if err == nil {
		size, chunks, first, err = o.writeSnapshotAt(s)
	}
	if err != nil {
		o.log.Warn().Err(err).Int32("partition", s.Partition).Int64("covers", s.Covers).Msg("snapshot not written; will retry")
		o.store.snapshotFailed(ps.epoch, []pendingSnapshot{ps}, time.Now().Add(snapshotRetry), true)
		return
	}
	o.store.snapshotWritten(ps.epoch, s.Partition, size)
	o.prune(s.Partition, first)
	o.log.Info().Int32("partition", s.Partition).Int64("covers", s.Covers).Int("running", len(s.Running)).
		Int("ended", len(s.Ended)).Int("bytes", size).Int("chunks", chunks).Int("events_since_last", ps.changes).
		Dur("locked", ps.capturedTook).Dur("took", time.Since(began)).Msg("snapshot written")
}

// snapshotTaken resets the partitions' counts of changes: they count from
// the captured state on.
func (s *store) snapshotTaken(epoch uint64, pending []pendingSnapshot, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch {
		return
	}
	for _, ps := range pending {
		if sh := s.shards[ps.snap.Partition]; sh != nil {
			sh.changes -= ps.changes
			sh.changeBytes -= ps.changeBytes
			sh.since, sh.snapshotAt = at, at
		}
	}
}

// snapshotFailed counts the changes of snapshots that were not written
// again, and holds the partitions back until retryAt.
func (s *store) snapshotFailed(epoch uint64, pending []pendingSnapshot, retryAt time.Time, taken bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch {
		return
	}
	for _, ps := range pending {
		if sh := s.shards[ps.snap.Partition]; sh != nil {
			if taken {
				sh.changes += ps.changes
				sh.changeBytes += ps.changeBytes
			}
			sh.retryAt = retryAt
		}
	}
}

func (s *store) snapshotWritten(epoch uint64, p int32, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.shards[p]; sh != nil && epoch == s.epoch {
		sh.snapshotBytes = size
	}
}
