package orchestrator

import (
	"hash/fnv"
	"sync"
	"time"

	"github.com/sagaflow/saga/orchestrator/saga"
)

// store holds the sagas of the partitions this orchestrator owns. Running
// and failed sagas are kept whole; ended ones keep only their status, so a repeated
// request or a late reply finds them cheaply and memory does not grow with
// the history. The epoch changes whenever ownership changes: a decision
// taken under an old epoch is not stored.
type store struct {
	mu      sync.RWMutex
	epoch   uint64
	running map[string]saga.State
	ended   map[string]saga.Status
	// stripes serialise the processing of one saga without serialising all.
	stripes [64]sync.Mutex
}

func newStore() *store {
	return &store{running: map[string]saga.State{}, ended: map[string]saga.Status{}}
}

func (s *store) lock(sagaID string) func() {
	h := fnv.New32a()
	_, _ = h.Write([]byte(sagaID))
	m := &s.stripes[h.Sum32()%uint32(len(s.stripes))]
	m.Lock()
	return m.Unlock
}

// get returns the saga's state, whether it has ended, and the epoch.
func (s *store) get(sagaID string) (saga.State, bool, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.ended[sagaID]; ok {
		return saga.State{}, true, s.epoch
	}
	return s.running[sagaID], false, s.epoch
}

// put records a saga's state unless ownership changed since epoch.
func (s *store) put(st saga.State, epoch uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch != s.epoch {
		return
	}
	// A failed saga stays whole: an operator may resume it.
	if st.Status.Terminal() && st.Status != saga.StatusFailed {
		delete(s.running, st.SagaID)
		s.ended[st.SagaID] = st.Status
		return
	}
	s.running[st.SagaID] = st
}

// reset forgets every saga and starts a new epoch: the partitions are being
// handed over, and whatever is owned next is read again from the log.
func (s *store) reset() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.running = map[string]saga.State{}
	s.ended = map[string]saga.Status{}
	return s.epoch
}

// due lists the running sagas with a deadline or retry at or before now,
// and those with nothing in flight and nothing scheduled: a process killed
// between two appends of one decision leaves such a saga in the log, and a
// tick lets Decide start what comes next.
func (s *store) due(now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id, st := range s.running {
		if st.Status.Terminal() {
			continue
		}
		if w := st.NextWake(); w.IsZero() || !w.After(now) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (s *store) counts() (running, ended int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.running), len(s.ended)
}
