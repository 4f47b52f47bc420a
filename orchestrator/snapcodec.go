package orchestrator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/sagaflow/saga/orchestrator/saga"
)

// snapshot is what an orchestrator knows of the sagas of one saga log
// partition once it has folded the partition's events below Covers: the
// running and failed sagas whole, the ended ones by id and status.
// Recovery loads it and folds the log from Covers on, which gives the same
// sagas as folding the whole log.
type snapshot struct {
	Partition int32
	// Partitions is the saga log's partition count when it was taken: a
	// saga's partition depends on it.
	Partitions int32
	// Covers is the saga log offset every event below which is in it.
	Covers int64
	// LastID is the id of the event at Covers-1: recovery checks that the
	// log it folds on is the one the snapshot was taken of.
	LastID  string
	TakenAt time.Time
	Running []saga.State
	Ended   []endedSaga
	// size is the encoded size of a snapshot read back (not encoded).
	size int
}

type endedSaga struct {
	ID     string
	Status saga.Status
}

// snapshotMagic starts every encoded snapshot; the byte after it is the
// format's version: 2 adds the watchdog's fields of a saga (Stuck,
// StuckStep, StuckAt, ResumedAt), 3 the definition version it runs by,
// 4 when each step's compensation first started (its horizon counts from
// then). Older versions are still read, so that the snapshots written
// before an upgrade keep recoveries short; a compensation recovered from
// one counts its horizon from its next attempt.
const (
	snapshotMagic   = "SGSN"
	snapshotVersion = 4
)

// The encoding is a flat binary one, written and read by hand: snapshots
// are encoded while batches wait and decoded while a recovery waits, and
// this is several times faster (and smaller) than JSON or gob. Integers
// are varints, strings and byte slices length-prefixed, times seconds and
// nanoseconds since the Unix epoch. TestSnapshotCodecCoversEveryField
// fails when saga.State gains a field this does not encode.

func encodeSnapshot(s *snapshot) []byte {
	size := 64
	for i := range s.Running {
		size += 256 + len(s.Running[i].Data) + 112*len(s.Running[i].Steps)
	}
	size += len(s.Ended) * 40
	b := make([]byte, 0, size)
	b = append(b, snapshotMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendVarint(b, int64(s.Partition))
	b = binary.AppendVarint(b, int64(s.Partitions))
	b = binary.AppendVarint(b, s.Covers)
	b = appendString(b, s.LastID)
	b = appendTime(b, s.TakenAt)
	b = binary.AppendUvarint(b, uint64(len(s.Running)))
	for i := range s.Running {
		b = appendState(b, &s.Running[i])
	}
	b = binary.AppendUvarint(b, uint64(len(s.Ended)))
	for _, e := range s.Ended {
		b = appendString(b, e.ID)
		b = appendStatus(b, string(e.Status))
	}
	return b
}

func appendState(b []byte, s *saga.State) []byte {
	b = appendString(b, s.SagaID)
	b = appendString(b, s.Definition)
	b = appendString(b, s.BookingRef)
	b = appendString(b, s.IdempotencyKey)
	b = appendString(b, s.Actor)
	b = appendStatus(b, string(s.Status))
	b = appendBytes(b, s.Data)
	if s.Steps == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.Steps))+1)
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		b = appendString(b, st.Name)
		b = appendStatus(b, string(st.Status))
		b = binary.AppendVarint(b, int64(st.Attempt))
		b = binary.AppendVarint(b, int64(st.CompAttempt))
		b = appendString(b, st.CommandID)
		b = appendTime(b, st.Deadline)
		b = appendTime(b, st.RetryAt)
		if st.Uncertain {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = appendTime(b, st.StartedAt)
		b = appendTime(b, st.EndedAt)
		b = appendString(b, st.Reason)
	}
	b = binary.AppendVarint(b, int64(s.Seq))
	b = appendTime(b, s.StartedAt)
	b = appendTime(b, s.UpdatedAt)
	b = appendString(b, s.Reason)
	b = appendString(b, s.Stuck)
	b = appendString(b, s.StuckStep)
	b = appendTime(b, s.StuckAt)
	b = appendTime(b, s.ResumedAt)
	b = appendString(b, s.DefinitionVersion)
	for i := range s.Steps {
		b = appendTime(b, s.Steps[i].CompStartedAt)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBytes tells nil from empty: states compare equal after a round trip.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

// statusCodes are the saga and step statuses, one byte each (the two
// kinds share "running", "compensating", "compensated" and "failed"); any
// other string is written out after a zero.
var statusCodes = []string{"", string(saga.StatusRunning), string(saga.StatusCompensating), string(saga.StatusCompleted),
	string(saga.StatusCompensated), string(saga.StatusFailed), string(saga.StepPending), string(saga.StepSucceeded),
	string(saga.StepSkipped)}

func appendStatus(b []byte, s string) []byte {
	for i, c := range statusCodes {
		if i > 0 && c == s {
			return append(b, byte(i))
		}
	}
	return appendString(append(b, 0), s)
}

// appendTime writes zero as one byte, UTC times (all the machine makes) as
// seconds and nanoseconds, others with their zone offset.
func appendTime(b []byte, t time.Time) []byte {
	switch {
	case t.IsZero():
		return append(b, 0)
	case t.Location() == time.UTC:
		b = append(b, 1)
		b = binary.AppendVarint(b, t.Unix())
		return binary.AppendUvarint(b, uint64(t.Nanosecond()))
	default:
		raw, err := t.MarshalBinary()
		if err != nil {
			// Offsets that are not whole minutes: the instant is kept.
			return appendTime(b, t.UTC())
		}
		return appendBytes(append(b, 2), raw)
	}
}

var errSnapshotCorrupt = errors.New("corrupt snapshot")

// decoder reads what encodeSnapshot wrote; the first error sticks and
// every later read returns zero values.
type decoder struct {
	b   []byte
	err error
	// intern shares the strings that repeat from saga to saga (names of
	// definitions and steps, actors), as the states folded from the log
	// share their definitions' names.
	intern map[string]string
	// version is the format's (snapshotVersion or an older one).
	version byte
}

func decodeSnapshot(b []byte) (*snapshot, error) {
	if len(b) <= len(snapshotMagic) || string(b[:len(snapshotMagic)]) != snapshotMagic ||
		b[len(snapshotMagic)] < 1 || b[len(snapshotMagic)] > snapshotVersion {
		return nil, fmt.Errorf("%w: not a snapshot of this format", errSnapshotCorrupt)
	}
	d := &decoder{b: b[len(snapshotMagic)+1:], version: b[len(snapshotMagic)], intern: map[string]string{}}
	s := &snapshot{}
	s.Partition = int32(d.varint())
	s.Partitions = int32(d.varint())
	s.Covers = d.varint()
	s.LastID = d.string()
	s.TakenAt = d.time()
	n := d.count(8)
	if d.err == nil {
		s.Running = make([]saga.State, n)
		for i := range s.Running {
			d.state(&s.Running[i])
		}
	}
	n = d.count(2)
	if d.err == nil {
		s.Ended = make([]endedSaga, n)
		for i := range s.Ended {
			s.Ended[i] = endedSaga{ID: d.string(), Status: saga.Status(d.status())}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes after the end", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func (d *decoder) state(s *saga.State) {
	s.SagaID = d.string()
	s.Definition = d.interned()
	s.BookingRef = d.string()
	s.IdempotencyKey = d.string()
	s.Actor = d.interned()
	s.Status = saga.Status(d.status())
	s.Data = d.bytes()
	if n := d.count(12); n > 0 {
		s.Steps = make([]saga.StepState, n-1)
	}
	for i := range s.Steps {
		st := &s.Steps[i]
		st.Name = d.interned()
		st.Status = saga.StepStatus(d.status())
		st.Attempt = int(d.varint())
		st.CompAttempt = int(d.varint())
		st.CommandID = d.string()
		st.Deadline = d.time()
		st.RetryAt = d.time()
		st.Uncertain = d.byte() == 1
		st.StartedAt = d.time()
		st.EndedAt = d.time()
		st.Reason = d.string()
	}
	s.Seq = int(d.varint())
	s.StartedAt = d.time()
	s.UpdatedAt = d.time()
	s.Reason = d.string()
	if d.version >= 2 {
		s.Stuck = d.interned()
		s.StuckStep = d.interned()
		s.StuckAt = d.time()
		s.ResumedAt = d.time()
	}
	if d.version >= 3 {
		s.DefinitionVersion = d.interned()
	}
	if d.version >= 4 {
		for i := range s.Steps {
			s.Steps[i].CompStartedAt = d.time()
		}
	}
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errSnapshotCorrupt, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a count of items each at least minBytes long, refusing
// counts the bytes left cannot hold (so corrupt input cannot make it
// allocate much).
func (d *decoder) count(minBytes int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/minBytes)+1 {
		d.fail("count %d with %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("length %d with %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

func (d *decoder) interned() string {
	raw := d.raw()
	if s, ok := d.intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(d.intern) < 4096 {
		d.intern[s] = s
	}
	return s
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	if n-1 > uint64(len(d.b)) {
		d.fail("length %d with %d bytes left", n-1, len(d.b))
		return nil
	}
	// A copy: the decoded states outlive the records' buffers.
	v := append([]byte{}, d.b[:n-1]...)
	d.b = d.b[n-1:]
	return v
}

func (d *decoder) status() string {
	c := d.byte()
	if c == 0 {
		return d.interned()
	}
	if int(c) >= len(statusCodes) {
		d.fail("status code %d", c)
		return ""
	}
	return statusCodes[c]
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= 1e9 {
			d.fail("nanoseconds %d", nsec)
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec)).UTC()
	case 2:
		var t time.Time
		if err := t.UnmarshalBinary(d.bytes()); err != nil {
			d.fail("time: %v", err)
		}
		return t
	default:
		d.fail("time kind")
		return time.Time{}
	}
}
