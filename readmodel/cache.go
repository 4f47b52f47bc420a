package readmodel

import (
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// maxCachedSagas bounds the sagas a projection keeps folded between
// batches; past it, ended sagas are forgotten first (they are read back
// from the tables should a record of theirs come again).
const maxCachedSagas = 200_000

// maxCachedRows bounds the rows of another kind a projection keeps.
const maxCachedRows = 1_000_000

// foldCache is what one projection knows of its tables between batches, so
// that a batch reads and decodes only what earlier batches did not leave
// in memory. A batch is folded over the cache before its transaction
// begins, and the transaction writes it only if the stored offsets are
// still those the cache was folded from: rows and offsets commit together,
// so the rows are then the ones the cache has. Anything else (another
// process applied records, a rebuild was swapped in, a transaction failed)
// starts it afresh.
type foldCache struct {
	valid bool
	// offs are the stored offsets once every batch folded so far commits.
	offs map[Source]int64
	// complete means every row of the tables is in the cache (they were
	// empty when it started), so a miss needs no query.
	complete bool
	sagas    *sagaCache
	inv      *invCache
	rev      *revCache
	rec      *recCache
}

func newFoldCache() *foldCache {
	c := &foldCache{}
	c.reset(false)
	c.valid = false
	return c
}

// reset empties the cache for tables that are empty (complete) or not.
func (c *foldCache) reset(complete bool) {
	c.valid, c.complete, c.offs = true, complete, nil
	c.sagas = newSagaCache()
	c.inv = newInvCache()
	c.rev = newRevCache()
	c.rec = newRecCache()
}

// folded notes the offsets a folded batch stores.
func (c *foldCache) folded(offs map[Source]int64) { c.offs = offs }

// invalidate is called when a transaction failed: what the cache holds
// may never have been stored.
func (c *foldCache) invalidate() { c.valid = false }

func sameOffsets(stored map[Source]offsetRow, offs map[Source]int64) bool {
	if len(stored) != len(offs) {
		return false
	}
	for s, o := range stored {
		if n, ok := offs[s]; !ok || n != o.Next {
			return false
		}
	}
	return true
}

// trim forgets rows when too many are kept: ended sagas first. Rows the
// last batch changed are kept, for that batch may not have committed yet
// (a row read back from the table would then be older than the cache).
func (c *foldCache) trim() {
	c.sagas.shelve()
	if len(c.inv.refs)+len(c.inv.released) > maxCachedRows {
		c.complete = false
		c.inv.evict()
	}
	if len(c.rev.refs) > maxCachedRows {
		c.complete = false
		c.rev.evict()
	}
	if len(c.rec.refs) > maxCachedRows {
		c.complete = false
		c.rec.evict()
	}
	if len(c.sagas.entries) > maxCachedSagas {
		c.complete = false
		c.sagas.evict()
	}
}

func (c *sagaCache) evict() {
	for id, e := range c.entries {
		if !e.dirty && (e.state == nil || e.state.Status.Terminal()) {
			delete(c.entries, id)
		}
	}
	if len(c.entries) > maxCachedSagas/2 {
		for id, e := range c.entries {
			if !e.dirty {
				delete(c.entries, id)
			}
		}
	}
}

func (c *invCache) evict() {
	refs, released := map[invKey]*invRef{}, map[string]bool{}
	for _, k := range c.refOrder {
		refs[k] = c.refs[k]
	}
	for _, ref := range c.newReleased {
		released[ref] = true
	}
	c.refs, c.released = refs, released
}

func (c *revCache) evict() {
	refs := map[string]*revEntry{}
	for _, ref := range c.order {
		refs[ref] = c.refs[ref]
	}
	c.refs = refs
}

// batchMemo is shared by the projections of one transaction: the sagas
// and bookings projections fold the same saga log, and fold each record
// once between them when their states are the same.
type batchMemo struct {
	folds    map[foldKey]foldResult
	states   map[*saga.State]string
	bookings map[*saga.State]events.BookingData
}

func newBatchMemo(records int) *batchMemo {
	return &batchMemo{folds: make(map[foldKey]foldResult, records), states: map[*saga.State]string{},
		bookings: map[*saga.State]events.BookingData{}}
}

// foldKey is a record folded over a state. The projections of a batch
// share its records, and states are never changed once made, so one
// pointer is one record and one state.
type foldKey struct {
	prev *saga.State
	ev   *event
}

type foldResult struct {
	next    *saga.State
	step    string
	at      any // the event's time as stored
	applied bool
}
