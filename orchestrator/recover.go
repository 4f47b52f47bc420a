package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// assigned rebuilds the sagas of the saga log partitions this member now
// owns, each from its latest snapshot and the events after it (or from the
// whole partition), and re-sends in-flight commands (a crash, or the member
// that had the partition, may have stopped between appending an event and
// sending its command).
func (o *Orchestrator) assigned(ctx context.Context, claims bus.Claims) error {
	started := time.Now()
	parts, err := o.kafka.Partitions(o.logTopic())
	if err != nil {
		return fmt.Errorf("partitions of the saga log: %w", err)
	}
	epoch := o.store.begin(ctx.Done(), int32(len(parts)))
	owned := claims.Partitions()
	// The partitions are read at once: reading one waits on the broker
	// as much as it folds.
	results := make([]recovered, len(owned))
	errs := make([]error, len(owned))
	var wg sync.WaitGroup
	for i, p := range owned {
		wg.Go(func() { results[i], errs[i] = o.recoverPartition(ctx, p, int32(len(parts))) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	shards := make(map[int32]*shard, len(results))
	fromSnapshots, folded := 0, 0
	for _, r := range results {
		shards[r.p] = r.shard
		folded += r.folded
		if r.from != nil {
			fromSnapshots++
		}
	}
	// A partition that took a long fold is snapshotted at once, from what
	// was folded (the shard equals the log below r.end until it is
	// installed and batches change it).
	var snaps []pendingSnapshot
	for _, r := range results {
		if !o.cfg.NoSnapshots && r.folded >= o.cfg.SnapshotEvents && r.end > 0 {
			at := time.Now()
			s := r.shard.capture(r.p, int32(len(parts)), at)
			s.Covers, s.LastID = r.end, r.lastID
			sh := r.shard
			snaps = append(snaps, pendingSnapshot{epoch: epoch, snap: s, changes: sh.changes, changeBytes: sh.changeBytes})
			sh.changes, sh.changeBytes, sh.since, sh.snapshotAt = 0, 0, at, at
		}
	}
	if !o.store.install(epoch, shards) {
		return nil // revoked meanwhile: the next assignment recovers again
	}
	for _, ps := range snaps {
		if !o.writeAsync(ps) { //nolint:contextcheck // a snapshot write outlives the recovery that started it, bounded by its own timeout
			o.store.snapshotFailed(epoch, []pendingSnapshot{ps}, time.Now(), true)
		}
	}
	resending := time.Now()
	var cmds []saga.Outgoing
	for _, r := range results {
		cmds = append(cmds, r.inFlight...)
	}
	o.resend(cmds)
	running, ended := o.store.counts()
	o.log.Info().Ints32("partitions", owned).Int("running", running).Int("ended", ended).
		Int("from_snapshots", fromSnapshots).Int("events_folded", folded).Int("commands_resent", len(cmds)).
		Dur("resend_took", time.Since(resending)).Dur("took", time.Since(started)).Msg("recovered sagas from the log")
	if folded >= o.cfg.SnapshotEvents {
		// The fold left its garbage (every event it decoded, every ended
		// saga's whole state on the way): collect it and hand the memory
		// back now, so the process does not hold it until the heap has
		// doubled again.
		go debug.FreeOSMemory()
	}
	return nil
}

// recovered is one partition's recovery.
type recovered struct {
	p     int32
	shard *shard
	// from is the snapshot it started from; nil for a fold from the start.
	from *snapshot
	// end is the offset the log was read up to, lastID the id of the
	// event before it.
	end    int64
	lastID string
	// folded counts the events read after the snapshot (or all of them).
	folded int
	// inFlight are the commands the partition's sagas await.
	inFlight []saga.Outgoing
}

// errWrongLog means a snapshot's last event is not in the log it was
// loaded for.
var errWrongLog = errors.New("the saga log does not hold the snapshot's last event")

// recoverPartition rebuilds the sagas of saga log partition p of parts.
func (o *Orchestrator) recoverPartition(ctx context.Context, p, parts int32) (recovered, error) {
	began := time.Now()
	var snap *snapshot
	why := "snapshots are off"
	if !o.cfg.NoSnapshots {
		snap, why = o.readSnapshot(ctx, p, parts)
	}
	loaded := time.Since(began)
	r, err := o.foldPartition(ctx, p, snap)
	if errors.Is(err, errWrongLog) {
		why = fmt.Sprintf("snapshot covering offset %d: %v", snap.Covers, err)
		snap = nil
		r, err = o.foldPartition(ctx, p, nil)
	}
	if err != nil {
		return r.recovered, fmt.Errorf("recover saga log partition %d: %w", p, err)
	}
	r.shard.since = time.Now()
	r.shard.changes, r.shard.changeBytes = r.folded, r.foldedBytes
	now := o.cfg.Now()
	for _, s := range r.shard.running {
		if !s.Status.Terminal() {
			r.inFlight = append(r.inFlight, o.machine.InFlight(s, now)...)
		}
	}
	ev := o.log.Info().Int32("partition", p).Int("running", len(r.shard.running)).Int("ended", len(r.shard.ended)).
		Int("events_folded", r.folded).Int64("log_end", r.end).Dur("took", time.Since(began))
	if snap != nil {
		r.shard.snapshotAt, r.shard.snapshotBytes = snap.TakenAt, snap.size
		ev = ev.Int64("snapshot_covers", snap.Covers).Time("snapshot_taken", snap.TakenAt).Dur("snapshot_load", loaded)
		if why != "" {
			ev = ev.Str("passed_over", why)
		}
		ev.Msg("recovered partition from its snapshot and the events after it")
	} else {
		ev.Str("why", why).Msg("recovered partition by folding it from the start")
	}
	return r.recovered, nil
}

type foldResult struct {
	recovered
	foldedBytes int
}

// foldPartition folds partition p of the saga log into a shard: from the
// start, or from snap on (after checking that the log holds snap's last
// event where snap says).
func (o *Orchestrator) foldPartition(ctx context.Context, p int32, snap *snapshot) (foldResult, error) {
	r := foldResult{recovered: recovered{p: p, shard: newShard(), from: snap}}
	var from int64
	checked := true
	if snap != nil {
		r.shard.load(snap)
		from, checked = snap.Covers-1, false
		r.end, r.lastID = snap.Covers, snap.LastID
	}
	err := o.kafka.ReadRange(ctx, o.logTopic(), p, from, -1, func(rec bus.Record) error {
		id := rec.Headers[events.HeaderID]
		if !checked {
			if rec.Offset != snap.Covers-1 || id != snap.LastID {
				return errWrongLog
			}
			checked = true
			return nil
		}
		r.end, r.lastID = rec.Offset+1, id
		r.folded++
		r.foldedBytes += len(rec.Value)
		o.foldRecord(ctx, r.shard, rec)
		return nil
	})
	if err == nil && !checked {
		err = errWrongLog // the log ends before the snapshot's last event
	}
	return r, err
}

// foldRecord folds one saga log record into the shard; what cannot be read
// or folded is logged and skipped.
func (o *Orchestrator) foldRecord(ctx context.Context, sh *shard, r bus.Record) {
	if _, err := o.cfg.Bus.VerifyLogged(r); err != nil {
		o.log.Error().Err(err).Int32("partition", r.Partition).Int64("offset", r.Offset).Msg("skipping saga log record the orchestrator did not write")
		return
	}
	e, err := readEvent(r)
	if err != nil {
		o.log.Error().Err(err).Int32("partition", r.Partition).Int64("offset", r.Offset).Msg("skipping unreadable saga log record")
		return
	}
	if err := sh.fold(o.machine, e); err != nil {
		o.log.Error().Err(err).Str("saga_id", e.SagaID).Msg("skipping saga log event that does not fold")
		return
	}
	o.traces.recovered(ctx, e, r.Headers)
}

// readEvent reads a saga log record as an event. Apply decodes and
// validates the payload of every saga log event it folds, so Check (which
// would decode it once more) only runs for what Apply cannot take as it
// is: older versions to upcast, unknown types, oversized payloads.
func readEvent(r bus.Record) (events.Envelope, error) {
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		return e, err
	}
	if events.Known(e.Type) && e.Version == events.CurrentVersion(e.Type) && len(e.Payload) <= events.MaxPayloadBytes {
		return e, nil
	}
	return events.Check(e)
}

// fold applies a saga log event to the shard as Machine.Fold does to its
// saga: an event that is not the next one expected is a duplicate and is
// skipped. A saga that has ended keeps its status only, so what comes
// after its end is skipped too: its last event ended its log.
func (sh *shard) fold(m saga.Machine, e events.Envelope) error {
	if _, ok := sh.ended[e.SagaID]; ok {
		return nil
	}
	next, applied, err := m.Fold(sh.running[e.SagaID], e)
	if err != nil || !applied {
		return err
	}
	sh.add(next)
	return nil
}

// resend sends the commands recovered sagas await, a batch per topic.
func (o *Orchestrator) resend(cmds []saga.Outgoing) {
	byTopic := map[string][]saga.Outgoing{}
	for _, c := range cmds {
		byTopic[c.Topic] = append(byTopic[c.Topic], c)
	}
	var wg sync.WaitGroup
	for topic, cs := range byTopic {
		wg.Go(func() {
			msgs := make([]*message.Message, len(cs))
			for i, c := range cs {
				msgs[i] = bus.ToMessage(c.Envelope)
			}
			if err := o.pub.Publish(o.cfg.Bus.Topic(topic), msgs...); err != nil {
				o.log.Warn().Err(err).Str("topic", topic).Int("commands", len(cs)).Msg("commands in flight not re-sent; will retry")
				o.outboxMu.Lock()
				o.outbox = append(o.outbox, cs...)
				o.outboxMu.Unlock()
			}
		})
	}
	wg.Wait()
}
