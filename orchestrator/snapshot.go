package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Snapshots of the store, per saga log partition, spare a recovery the fold
// of the whole log: it loads the partition's latest snapshot and folds the
// events after it. A snapshot is only an optimisation of the fold: when none
// is usable (none written yet, torn by a crash, unreadable, of another log)
// recovery folds the partition from its start, as it would without them.
//
// A snapshot of partition p is written to partition p of the snapshot topic
// as chunk records, each at most Config.SnapshotChunkBytes, written in
// order. Every chunk names its snapshot, its index, the chunk count and the
// saga log offset the snapshot covers; the last chunk also says at which
// offset the first one is, and the checksum and length of the whole. A
// recovery reads the last record of the partition: when it is a last chunk
// it reads the chunks from the first on. A snapshot whose last chunk was
// never written (a crash while writing) is torn: the record before its
// first chunk is looked at instead, which is the previous snapshot's last.

// Chunk record headers.
const (
	snapHeaderID     = "snapshot"
	snapHeaderChunk  = "chunk"
	snapHeaderChunks = "chunks"
	snapHeaderCovers = "covers"
	// Last chunk only.
	snapHeaderFirst = "first_offset"
	snapHeaderCRC   = "crc32c"
	snapHeaderBytes = "bytes"
)

// snapshotRefresh is the age at which a partition's snapshot is taken again
// even when nothing changed, so it outlives the topic's retention.
const snapshotRefresh = 24 * time.Hour

// snapshotRetry holds a partition's snapshots back after one failed.
const snapshotRetry = 10 * time.Second

// snapshotWriteTimeout bounds the writing of one snapshot.
const snapshotWriteTimeout = time.Minute

// snapshotMaxOverhead bounds what snapshots taken on time (the interval)
// cost in writes: such a snapshot waits until the events appended since
// the last one are at least 1/snapshotMaxOverhead of its size. Snapshots
// taken on the count cost about half the events they follow.
const snapshotMaxOverhead = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errStop ends a read early from its callback.
var errStop = errors.New("stop")

// chunkHeaders are the headers of a chunk record, parsed.
type chunkHeaders struct {
	id             string
	chunk, chunks  int
	covers         int64
	first          int64
	crc            uint32
	bytes          int
	hasFirst, last bool
}

// parseChunk reads the headers of a chunk the orchestrator wrote.
func (o *Orchestrator) parseChunk(r bus.Record) (chunkHeaders, error) {
	if _, err := o.cfg.Bus.VerifyLogged(r); err != nil {
		return chunkHeaders{}, err
	}
	return parseChunk(r)
}

func parseChunk(r bus.Record) (chunkHeaders, error) {
	h := chunkHeaders{id: r.Headers[snapHeaderID]}
	if h.id == "" {
		return h, errors.New("not a snapshot chunk")
	}
	var err error
	num := func(key string) int64 {
		v, e := strconv.ParseInt(r.Headers[key], 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("header %s: %w", key, e)
		}
		return v
	}
	h.chunk, h.chunks, h.covers = int(num(snapHeaderChunk)), int(num(snapHeaderChunks)), num(snapHeaderCovers)
	if err != nil {
		return h, err
	}
	if h.chunks < 1 || h.chunk < 0 || h.chunk >= h.chunks {
		return h, fmt.Errorf("chunk %d of %d", h.chunk, h.chunks)
	}
	h.last = h.chunk == h.chunks-1
	if !h.last {
		return h, nil
	}
	h.crc, h.bytes = uint32(num(snapHeaderCRC)), int(num(snapHeaderBytes))
	h.first = r.Offset
	if _, ok := r.Headers[snapHeaderFirst]; ok {
		h.first, h.hasFirst = num(snapHeaderFirst), true
	}
	if err == nil && (h.first > r.Offset || (h.chunks > 1 && h.first > r.Offset-int64(h.chunks-1))) {
		err = fmt.Errorf("first chunk at %d, after the last at %d", h.first, r.Offset)
	}
	return h, err
}

func (o *Orchestrator) snapshotTopic() string { return o.cfg.Bus.Topic(events.TopicSagaSnapshots) }
func (o *Orchestrator) logTopic() string      { return o.cfg.Bus.Topic(events.TopicSagaLog) }

// readRecord reads the record of topic/p at offset at.
func (o *Orchestrator) readRecord(ctx context.Context, topic string, p int32, at int64) (bus.Record, error) {
	var rec bus.Record
	found := false
	err := o.kafka.ReadRange(ctx, topic, p, at, at+1, func(r bus.Record) error {
		rec, found = r, r.Offset == at
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return rec, err
	}
	if !found {
		return rec, fmt.Errorf("no record at offset %d of %s/%d", at, topic, p)
	}
	return rec, nil
}

// readSnapshot returns the latest complete snapshot of saga log partition
// p, or nil and why there is none to use. When it had to pass over newer
// snapshots (torn, unreadable), why says so too.
func (o *Orchestrator) readSnapshot(ctx context.Context, p, parts int32) (*snapshot, string) {
	topic := o.snapshotTopic()
	start, end, err := o.kafka.Bounds(topic, p)
	if err != nil {
		return nil, err.Error()
	}
	if end <= start {
		return nil, "no snapshot written"
	}
	var passed []string
	at := end - 1
	for try := 0; try < 4 && at >= start; try++ {
		rec, err := o.readRecord(ctx, topic, p, at)
		if err != nil {
			passed = append(passed, err.Error())
			break
		}
		h, err := o.parseChunk(rec)
		if err != nil {
			passed = append(passed, fmt.Sprintf("record at offset %d: %v", at, err))
			break
		}
		if !h.last {
			// Torn: try the record before its first chunk, if they are
			// contiguous, which they are unless two members wrote at once.
			passed = append(passed, fmt.Sprintf("snapshot %s is torn (chunk %d of %d at offset %d is the last written)", h.id, h.chunk+1, h.chunks, at))
			at -= int64(h.chunk) + 1
			continue
		}
		s, err := o.readChunks(ctx, p, h, rec)
		if err == nil {
			err = checkSnapshot(s, p, parts, h)
		}
		if err == nil {
			return s, strings.Join(passed, "; ")
		}
		passed = append(passed, fmt.Sprintf("snapshot %s at offset %d: %v", h.id, at, err))
		at = h.first - 1
	}
	if len(passed) == 0 {
		passed = append(passed, "no complete snapshot")
	}
	return nil, strings.Join(passed, "; ")
}

// readChunks reads and decodes the snapshot whose last chunk is last.
func (o *Orchestrator) readChunks(ctx context.Context, p int32, h chunkHeaders, last bus.Record) (*snapshot, error) {
	chunks := make([][]byte, h.chunks)
	chunks[h.chunk] = last.Value
	if h.chunks > 1 {
		err := o.kafka.ReadRange(ctx, o.snapshotTopic(), p, h.first, last.Offset, func(r bus.Record) error {
			if r.Headers[snapHeaderID] != h.id {
				return nil // another member's, written meanwhile
			}
			c, err := o.parseChunk(r)
			if err != nil {
				return err
			}
			if c.chunks != h.chunks || c.covers != h.covers {
				return fmt.Errorf("chunk at offset %d disagrees with the last one", r.Offset)
			}
			chunks[c.chunk] = r.Value
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return nil, err
		}
	}
	size := 0
	for i, c := range chunks {
		if c == nil {
			return nil, fmt.Errorf("chunk %d of %d missing", i+1, h.chunks)
		}
		size += len(c)
	}
	if size != h.bytes {
		return nil, fmt.Errorf("%d bytes, the last chunk says %d", size, h.bytes)
	}
	payload := make([]byte, 0, size)
	for _, c := range chunks {
		payload = append(payload, c...)
	}
	if sum := crc32.Checksum(payload, castagnoli); sum != h.crc {
		return nil, fmt.Errorf("checksum %08x, the last chunk says %08x", sum, h.crc)
	}
	plain, err := openSnapshot(o.cfg.Bus.Signer, payload)
	if err != nil {
		return nil, err
	}
	s, err := decodeSnapshot(plain)
	if s != nil {
		s.size = size
	}
	return s, err
}

// checkSnapshot refuses a snapshot of another partition or of a log with
// another partition count (its sagas would belong elsewhere).
func checkSnapshot(s *snapshot, p, parts int32, h chunkHeaders) error {
	switch {
	case s.Partition != p:
		return fmt.Errorf("it is of partition %d", s.Partition)
	case s.Partitions != parts:
		return fmt.Errorf("it was taken when the saga log had %d partitions, not %d", s.Partitions, parts)
	case s.Covers != h.covers:
		return fmt.Errorf("it covers offset %d, its chunks say %d", s.Covers, h.covers)
	case s.Covers <= 0 || s.LastID == "":
		return fmt.Errorf("it covers no event (offset %d, last event %q)", s.Covers, s.LastID)
	}
	return nil
}

// writeSnapshot writes s as chunk records to partition s.Partition of the
// snapshot topic; it returns the bytes and chunks written.
func (o *Orchestrator) writeSnapshot(s *snapshot) (size, chunks int, err error) {
	size, chunks, _, err = o.writeSnapshotAt(s)
	return size, chunks, err
}

// writeSnapshotAt is writeSnapshot that also says the offset of the
// snapshot's first chunk.
func (o *Orchestrator) writeSnapshotAt(s *snapshot) (size, chunks int, first int64, err error) {
	recs, payload := o.chunkRecords(s)
	size, chunks = len(payload), len(recs)
	last := recs[chunks-1]
	first = -1
	if chunks > 1 {
		offs, err := o.kafka.Write(recs[:chunks-1])
		if err != nil {
			return size, chunks, first, err
		}
		first = offs[0]
		last.Headers = append(last.Headers, header(snapHeaderFirst, strconv.FormatInt(offs[0], 10)))
	}
	last.Headers = append(last.Headers, header(snapHeaderCRC, strconv.FormatUint(uint64(crc32.Checksum(payload, castagnoli)), 10)),
		header(snapHeaderBytes, strconv.Itoa(size)))
	offs, err := o.kafka.Write([]bus.OutRecord{last})
	if err == nil && first < 0 {
		first = offs[0]
	}
	return size, chunks, first, err
}

// chunkRecords encodes s and cuts it into chunk records; the last one
// still lacks the headers only the last chunk has.
func (o *Orchestrator) chunkRecords(s *snapshot) ([]bus.OutRecord, []byte) {
	payload := sealSnapshot(o.cfg.Bus.Signer, encodeSnapshot(s))
	size := len(payload)
	per := max(o.cfg.SnapshotChunkBytes, 1)
	chunks := max(1, (size+per-1)/per)
	id := uuid.NewString()
	recs := make([]bus.OutRecord, chunks)
	for i := range recs {
		part := payload[min(i*per, size):min((i+1)*per, size)]
		recs[i] = bus.OutRecord{Topic: o.snapshotTopic(), Partition: s.Partition, Value: part,
			Headers: []bus.Header{header(snapHeaderID, id), header(snapHeaderChunk, strconv.Itoa(i)),
				header(snapHeaderChunks, strconv.Itoa(chunks)), header(snapHeaderCovers, strconv.FormatInt(s.Covers, 10))}}
	}
	return recs, payload
}

func header(k, v string) bus.Header { return bus.Header{Key: k, Value: v} }

// capture copies the shard of partition p as a snapshot (without Covers and
// LastID). The caller makes sure the shard equals the log meanwhile. The
// copies are shallow: a saga's state is never changed in place (Apply
// returns new steps and data), so they stay what they were.
func (sh *shard) capture(p, parts int32, at time.Time) *snapshot {
	s := &snapshot{Partition: p, Partitions: parts, TakenAt: at,
		Running: make([]saga.State, 0, len(sh.running)), Ended: make([]endedSaga, 0, len(sh.ended))}
	for _, st := range sh.running {
		s.Running = append(s.Running, st)
	}
	for id, status := range sh.ended {
		s.Ended = append(s.Ended, endedSaga{ID: id, Status: status})
	}
	return s
}

// load puts a snapshot's sagas in an empty shard.
func (sh *shard) load(s *snapshot) {
	sh.running = make(map[string]saga.State, len(s.Running))
	sh.ended = make(map[string]saga.Status, len(s.Ended))
	for _, st := range s.Running {
		sh.running[st.SagaID] = st
	}
	for _, e := range s.Ended {
		sh.ended[e.ID] = e.Status
	}
}

// snapshotDue reports whether a shard should be snapshotted now.
func (o *Orchestrator) snapshotDue(sh *shard, now time.Time) bool {
	if sh.diverged || now.Before(sh.retryAt) {
		return false
	}
	switch {
	case sh.changes >= o.cfg.SnapshotEvents:
		return true
	case sh.changes > 0:
		return now.Sub(sh.since) >= o.cfg.SnapshotInterval && sh.changeBytes*snapshotMaxOverhead >= sh.snapshotBytes
	default:
		return !sh.snapshotAt.IsZero() && now.Sub(sh.snapshotAt) >= snapshotRefresh
	}
}

// pendingSnapshot is a snapshot captured and waiting to be written.
type pendingSnapshot struct {
	epoch        uint64
	snap         *snapshot
	changes      int
	changeBytes  int
	needLastID   bool
	capturedTook time.Duration
}

// snapshots takes the snapshots that are due. It runs on the tick loop and
// holds the tick lock while it copies the shards and reads the log's
// high-water marks: no batch is then between its decisions and their
// writing, so each shard holds exactly what its partition of the log holds
// below the mark. The snapshots are encoded and written afterwards.
func (o *Orchestrator) snapshots() {
	if o.cfg.NoSnapshots {
		return
	}
	now := time.Now()
	due := o.snapshotsDue(now)
	if len(due) == 0 {
		return
	}
	began := time.Now()
	o.ticking.Lock()
	var pending []pendingSnapshot
	o.store.mu.RLock()
	epoch, parts := o.store.epoch, o.store.parts
	for _, p := range due {
		if sh := o.store.shards[p]; sh != nil && o.snapshotDue(sh, now) {
			pending = append(pending, pendingSnapshot{epoch: epoch, snap: sh.capture(p, parts, now),
				changes: sh.changes, changeBytes: sh.changeBytes, needLastID: true})
		}
	}
	o.store.mu.RUnlock()
	var err error
	for i := range pending {
		s := pending[i].snap
		if s.Covers, err = o.kafka.End(o.logTopic(), s.Partition); err != nil {
			break
		}
	}
	current := o.store.current(epoch)
	o.ticking.Unlock()
	took := time.Since(began)
	if err != nil {
		o.log.Warn().Err(err).Msg("snapshot not taken: the saga log's high-water mark is unknown; will retry")
		o.store.snapshotFailed(epoch, pending, now.Add(snapshotRetry), false)
		return
	}
	if !current {
		return // the partitions were handed over meanwhile
	}
	o.store.snapshotTaken(epoch, pending, now)
	for i := range pending {
		pending[i].capturedTook = took
		if !o.writeAsync(pending[i]) {
			o.store.snapshotFailed(epoch, pending[i:i+1], now, true)
		}
	}
}

// snapshotsDue lists the partitions whose snapshot is due and not being
// written.
func (o *Orchestrator) snapshotsDue(now time.Time) []int32 {
	o.store.mu.RLock()
	defer o.store.mu.RUnlock()
	if !o.store.live() {
		return nil
	}
	o.writingMu.Lock()
	defer o.writingMu.Unlock()
	var due []int32
	for p, sh := range o.store.shards {
		if !o.writing[p] && o.snapshotDue(sh, now) {
			due = append(due, p)
		}
	}
	return due
}
