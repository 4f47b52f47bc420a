package orchestrator

import "sync"

// snapshotPruner deletes a partition's snapshots once two newer ones are
// written: the snapshot topic keeps its records forever (no time
// retention could tell the only valid snapshot of a partition from an old
// one), so the orchestrator, which knows, deletes what it will not read.
// The newest is what a recovery reads; the one before it stays for a
// recovery that started reading it just before, and for the case the
// next write is torn. Nothing is deleted before this process has written
// two, so a restart deletes nothing it has not seen superseded.
type snapshotPruner struct {
	mu sync.Mutex
	// written is the first offset of the last snapshot this process
	// wrote, by partition.
	written map[int32]int64
}

// prune notes that a snapshot of partition p starting at offset first was
// written and deletes the snapshots before the previous one. A failure is
// logged: the snapshots stay, which costs only space.
func (o *Orchestrator) prune(p int32, first int64) {
	if first < 0 {
		return
	}
	o.pruner.mu.Lock()
	if o.pruner.written == nil {
		o.pruner.written = map[int32]int64{}
	}
	prev, ok := o.pruner.written[p]
	o.pruner.written[p] = first
	o.pruner.mu.Unlock()
	if !ok || prev >= first {
		return
	}
	if err := o.kafka.DeleteBefore(o.snapshotTopic(), p, prev); err != nil {
		o.log.Warn().Err(err).Int32("partition", p).Int64("before", prev).
			Msg("older snapshots not deleted: they stay until a later snapshot deletes them (the orchestrator needs DELETE on the snapshot topic)")
	}
}
