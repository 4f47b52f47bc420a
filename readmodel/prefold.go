package readmodel

import (
	"runtime"
	"sync"

	"github.com/sagaflow/saga/orchestrator/saga"
)

// prefold folds the saga log records of a batch with the state machine,
// over t's cached sagas, before t and the projections that share its memo
// fold them one record at a time: split by partition (a saga's records are
// all on one), on several cores at once. Each result goes into memo under
// the state it was folded over, where their folds find it; a saga the
// cache does not hold (it would be read from the table) or whose fold
// fails is left to them. The memo is a cache of a pure function: what is
// not found is folded again, with the same result.
func prefold(t *target, items []item, memo *batchMemo) {
	shards := runtime.GOMAXPROCS(0)
	if shards < 2 || !t.cache.valid {
		return
	}
	parts := make([][]*item, shards)
	for i := range items {
		it := &items[i]
		if it.err == nil && it.src.Topic == topicSagaLog {
			k := int(it.src.Partition) % shards
			parts[k] = append(parts[k], it)
		}
	}
	c, complete := t.cache.sagas, t.cache.complete
	memos := make([]*batchMemo, shards)
	var wg sync.WaitGroup
	for k, evs := range parts {
		if len(evs) == 0 {
			continue
		}
		wg.Go(func() { memos[k] = prefoldPart(c, complete, evs) })
	}
	wg.Wait()
	for _, m := range memos {
		if m == nil {
			continue
		}
		for k, r := range m.folds {
			memo.folds[k] = r
		}
		for s, raw := range m.states {
			memo.states[s] = raw
		}
	}
}

// prefoldPart folds one share of the records (whole sagas, in order),
// reading the cache c but not changing it.
func prefoldPart(c *sagaCache, complete bool, evs []*item) *batchMemo {
	m := &batchMemo{folds: make(map[foldKey]foldResult, len(evs)), states: map[*saga.State]string{}}
	cur := map[string]*saga.State{}
	made := map[string]*saga.State{}
	skip := map[string]bool{}
	for _, ev := range evs {
		id := ev.env.SagaID
		if skip[id] {
			continue
		}
		prev, ok := cur[id]
		if !ok {
			ent, found := c.entries[id]
			switch {
			case found && !ent.shelved:
				prev = ent.state
			case !found && complete:
			default:
				skip[id] = true
				continue
			}
		}
		var s saga.State
		if prev != nil {
			s = *prev
		}
		next, applied, err := machine.Fold(s, ev.env)
		if err != nil {
			// Folded again, one record at a time: the machine may
			// learn a definition from another saga meanwhile.
			skip[id] = true
			continue
		}
		r := foldResult{}
		if applied {
			r = foldResult{next: &next, step: stepOf(ev.env), at: fmtTime(ev.env.OccurredAt), applied: true}
			cur[id], made[id] = r.next, r.next
		} else {
			cur[id] = prev
		}
		m.folds[foldKey{prev: prev, ev: ev}] = r
	}
	for _, s := range made {
		if raw, err := encodeState(s); err == nil {
			m.states[s] = raw
		}
	}
	return m
}
