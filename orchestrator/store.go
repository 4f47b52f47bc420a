package orchestrator

import (
	"hash/fnv"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// store holds the sagas of the partitions this orchestrator owns, one shard
// per saga log partition. Running and failed sagas are kept whole; ended
// ones keep only their status, so a repeated request or a late reply finds
// them cheaply and memory does not grow with the history. The epoch
// changes whenever ownership changes: a decision taken under an old epoch
// is not stored.
type store struct {
	mu    sync.RWMutex
	epoch uint64
	// parts is the saga log's partition count: a saga lives in the shard of
	// the partition its events are keyed to (they are keyed by saga id).
	parts  int32
	shards map[int32]*shard
	// rule is the deployment's partitioner, which placed the saga log.
	rule bus.Partitioner
	// session is closed when the consumer group session the partitions
	// were given in ends (its context's Done); nil between sessions.
	session <-chan struct{}
	// stripes serialise the processing of one saga without serialising all.
	stripes [64]sync.Mutex
}

// shard is the sagas of one saga log partition, and what the snapshots of
// that partition need to know.
type shard struct {
	running map[string]saga.State
	ended   map[string]saga.Status
	// changes counts the events appended to the partition since the state
	// the latest snapshot holds (or since the start, without one), and
	// changeBytes their payloads' bytes.
	changes, changeBytes int
	// snapshotBytes is the size of the latest snapshot; 0 when unknown.
	snapshotBytes int
	// snapshotAt is when the latest snapshot was taken; zero when none was.
	snapshotAt time.Time
	// since is when changes started counting: the recovery, or the latest
	// snapshot taken since.
	since time.Time
	// retryAt holds snapshots back after one failed to be written.
	retryAt time.Time
	// diverged is set when a decision may be in the log but not in the
	// shard (an append that failed part way): the shard no longer equals
	// the log, and no snapshot is taken of it until it is recovered again.
	diverged bool
}

func newShard() *shard {
	return &shard{running: map[string]saga.State{}, ended: map[string]saga.Status{}}
}

// add records a saga's state in the shard: ended sagas keep their status only.
func (sh *shard) add(st saga.State) {
	// A failed saga stays whole: an operator may resume it.
	if st.Status.Terminal() && st.Status != saga.StatusFailed {
		delete(sh.running, st.SagaID)
		sh.ended[st.SagaID] = st.Status
		return
	}
	sh.running[st.SagaID] = st
}

func newStore(rule bus.Partitioner) *store {
	return &store{shards: map[int32]*shard{}, rule: rule}
}

// home is the saga log partition sagaID belongs to, false while the store
// holds no partitions.
func (s *store) home(sagaID string) (int32, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.parts <= 0 {
		return 0, false
	}
	return s.rule.Partition(sagaID, s.parts), true
}

func (s *store) lock(sagaID string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sagaID))
	m := &s.stripes[h.Sum32()%uint32(len(s.stripes))]
	m.Lock()
	return m.Unlock
}

// shardOf returns the shard sagaID belongs to, nil when it is not held.
// The caller holds mu.
func (s *store) shardOf(sagaID string) *shard {
	if s.parts <= 0 {
		return nil
	}
	return s.shards[s.rule.Partition(sagaID, s.parts)]
}

// get returns the saga's state, whether it has ended, and the epoch.
func (s *store) get(sagaID string) (saga.State, bool, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sh := s.shardOf(sagaID)
	if sh == nil {
		return saga.State{}, false, s.epoch
	}
	if _, ok := sh.ended[sagaID]; ok {
		return saga.State{}, true, s.epoch
	}
	return sh.running[sagaID], false, s.epoch
}

// put records a saga's state, reached by appending appended events (of
// bytes payload bytes) to its partition of the log, unless ownership
// changed since epoch.
func (s *store) put(st saga.State, epoch uint64, appended, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch || s.parts <= 0 {
		return
	}
	p := s.rule.Partition(st.SagaID, s.parts)
	sh := s.shards[p]
	if sh == nil {
		// A saga of a partition this member was not given (its request
		// came on another partition): kept, but never snapshotted, since
		// snapshots are only taken of the shards recovery installed.
		sh = newShard()
		sh.diverged = true
		s.shards[p] = sh
	}
	sh.add(st)
	sh.changes += appended
	sh.changeBytes += bytes
}

// diverge marks the shard of sagaID as no longer equal to the log.
func (s *store) diverge(sagaID string, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch {
		return
	}
	if sh := s.shardOf(sagaID); sh != nil {
		sh.diverged = true
	}
}

// reset forgets every saga and starts a new epoch: the partitions are being
// handed over, and whatever is owned next is read again from the log.
func (s *store) reset() uint64 {
	return s.begin(nil, 0)
}

// live reports whether the store is in a session that goes on. The
// caller holds mu.
func (s *store) live() bool {
	if s.session == nil {
		return false
	}
	select {
	case <-s.session:
		return false
	default:
		return true
	}
}

// begin is reset for a new session in which the saga log has parts
// partitions; install then gives it the recovered shards.
func (s *store) begin(session <-chan struct{}, parts int32) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.parts = parts
	s.session = session
	s.shards = map[int32]*shard{}
	return s.epoch
}

// install sets the shards recovery rebuilt, unless ownership changed since
// epoch.
func (s *store) install(epoch uint64, shards map[int32]*shard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch {
		return false
	}
	for p, sh := range shards {
		s.shards[p] = sh
	}
	return true
}

// current reports whether epoch is still the store's and its session goes
// on: the partitions are still this member's.
func (s *store) current(epoch uint64) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return epoch == s.epoch && s.live()
}

// due lists the running sagas with a deadline or retry at or before now,
// and those with nothing in flight and nothing scheduled: a process killed
// between two appends of one decision leaves such a saga in the log, and a
// tick lets Decide start what comes next. It also lists the sagas the
// watchdog has to report (overdue), failed ones included.
func (s *store) due(now time.Time, overdue func(saga.State) bool) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for _, sh := range s.shards {
		for id, st := range sh.running {
			if st.Status.Terminal() {
				if overdue(st) {
					ids = append(ids, id)
				}
				continue
			}
			if w := st.NextWake(); w.IsZero() || !w.After(now) || overdue(st) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

func (s *store) counts() (running, ended int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sh := range s.shards {
		running += len(sh.running)
		ended += len(sh.ended)
	}
	return running, ended
}
