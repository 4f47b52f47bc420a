package api

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/readmodel"
)

// endWatch tells requests that wait for a saga's end (Prefer: wait) when
// it has come. One read-model query serves every waiting request: it runs
// when this process's projections commit (readmodel DB.Changed), when a
// request starts waiting, and every endPoll besides, for a read model that
// another process keeps. A query per request and poll instead made a few
// hundred waiting requests a load of their own.
type endWatch struct {
	db  *readmodel.DB
	log zerolog.Logger
	// nudge wakes the loop when a request starts waiting.
	nudge chan struct{}

	mu      sync.Mutex
	waiting map[string][]*endWaiter // by saga id
}

// endWaiter is one waiting request: it is done once the saga has ended
// with more than after events (a resumed saga has ended once before).
type endWaiter struct {
	after int
	done  chan struct{}
}

// endPoll is how often the watch looks without a commit to wake it.
const endPoll = 50 * time.Millisecond

func newEndWatch(db *readmodel.DB, log zerolog.Logger) *endWatch {
	return &endWatch{db: db, log: log, nudge: make(chan struct{}, 1), waiting: map[string][]*endWaiter{}}
}

// wait blocks until the read model holds the saga's end with more than
// after events (a resumed saga has ended once before), d has passed or
// ctx is done; it reports whether the saga ended.
func (w *endWatch) wait(ctx context.Context, sagaID string, after int, d time.Duration) bool {
	ew := &endWaiter{after: after, done: make(chan struct{})}
	w.mu.Lock()
	w.waiting[sagaID] = append(w.waiting[sagaID], ew)
	w.mu.Unlock()
	defer w.forget(sagaID, ew)
	select {
	case w.nudge <- struct{}{}:
	default: // a look is due already
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ew.done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	// The end may have come with the deadline.
	select {
	case <-ew.done:
		return true
	default:
		return false
	}
}

// forget removes a waiter, done or not.
func (w *endWatch) forget(sagaID string, ew *endWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ws := w.waiting[sagaID]
	for i, x := range ws {
		if x == ew {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(w.waiting, sagaID)
	} else {
		w.waiting[sagaID] = ws
	}
}

// run looks for ended sagas until ctx is done.
func (w *endWatch) run(ctx context.Context) {
	t := time.NewTicker(endPoll)
	defer t.Stop()
	for {
		changed := w.db.Changed() // before the look: a commit during it wakes the next
		w.look(ctx)
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-w.nudge:
		case <-t.C:
		}
	}
}

// look asks the read model about every saga waited for, once, and wakes
// the requests whose saga has ended.
func (w *endWatch) look(ctx context.Context) {
	w.mu.Lock()
	ids := make([]string, 0, len(w.waiting))
	for id := range w.waiting {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ends, err := w.db.SagaStatuses(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("api: reading the ends of waited-for sagas failed; trying again")
		}
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, e := range ends {
		if !ended(e.Status) {
			continue
		}
		ws := w.waiting[id][:0]
		for _, ew := range w.waiting[id] {
			if e.Events > ew.after {
				close(ew.done)
			} else {
				ws = append(ws, ew)
			}
		}
		if len(ws) == 0 {
			delete(w.waiting, id)
		} else {
			w.waiting[id] = ws
		}
	}
}
