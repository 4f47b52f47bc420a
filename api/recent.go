package api

import (
	"sync"
)

// recentCapacity is how many accepted requests the server remembers.
const recentCapacity = 10_000

// accepted is a request this server posted, remembered until the read
// model holds its saga: a client that reads its booking right after the
// 202 sees it running rather than 404, and a repeated key with another
// body is refused even before the saga is projected.
type accepted struct {
	SagaID      string
	BookingRef  string
	Definition  string
	UserID      string
	Fingerprint string
	// Capacity is an added show's.
	Capacity int
}

// recentRequests is a bounded memory of accepted requests, by saga id and
// booking reference; the oldest are forgotten first.
type recentRequests struct {
	mu     sync.Mutex
	cap    int
	order  []string
	bySaga map[string]accepted
	byRef  map[string]string
}

func newRecentRequests(capacity int) *recentRequests {
	return &recentRequests{cap: capacity, bySaga: map[string]accepted{}, byRef: map[string]string{}}
}

func (r *recentRequests) add(a accepted) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.bySaga[a.SagaID]; ok {
		return
	}
	if len(r.order) >= r.cap {
		old := r.bySaga[r.order[0]]
		delete(r.bySaga, old.SagaID)
		if r.byRef[old.BookingRef] == old.SagaID {
			delete(r.byRef, old.BookingRef)
		}
		r.order = r.order[1:]
	}
	r.order = append(r.order, a.SagaID)
	r.bySaga[a.SagaID] = a
	r.byRef[a.BookingRef] = a.SagaID
}

func (r *recentRequests) saga(id string) (accepted, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.bySaga[id]
	return a, ok
}

func (r *recentRequests) ref(ref string) (accepted, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.bySaga[r.byRef[ref]]
	return a, ok
}
