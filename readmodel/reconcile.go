package readmodel

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
)

// --- reconcile: what the booking, payment and notification logs say of
// each booking ref, kept one event at a time by projections.Reconciler's
// own rules (RefFacts), so that a reconciliation is answered from the
// read model instead of by folding every service log ---

// ProjectionReconcile names the reconcile projection.
const ProjectionReconcile = "reconcile"

var topicNotifications = events.DomainTopic(events.ServiceNotification)

var reconcileProjection = &projection{
	name:    ProjectionReconcile,
	version: 1,
	topics:  []string{topicBookings, topicPayments, topicNotifications},
	tables: []table{
		{name: "reconcile_refs", columns: `
			booking_ref TEXT PRIMARY KEY,
			facts       TEXT NOT NULL`},
	},
	apply: applyReconcile,
}

// recCache is the reconcile projection's part of a foldCache: each booking
// ref's facts as a reconciler of its own.
type recCache struct {
	refs  map[string]*projections.Reconciler
	order []string // changed by the current batch
}

func newRecCache() *recCache { return &recCache{refs: map[string]*projections.Reconciler{}} }

// evict forgets every ref but those the last batch changed (it may not have
// committed yet).
func (c *recCache) evict() {
	kept := make(map[string]*projections.Reconciler, len(c.order))
	for _, ref := range c.order {
		kept[ref] = c.refs[ref]
	}
	c.refs = kept
}

func applyReconcile(b *batch, evs []*event) error {
	c := b.cache.rec
	c.order = c.order[:0]
	changed := map[string]bool{}
	var (
		get = fmt.Sprintf(`SELECT facts FROM %s WHERE booking_ref = ?`, b.t("reconcile_refs"))
		put = fmt.Sprintf(`INSERT INTO %s (booking_ref, facts) VALUES (?, ?)
			ON CONFLICT (booking_ref) DO UPDATE SET facts = excluded.facts`, b.t("reconcile_refs"))
	)
	for _, ev := range evs {
		if ref, ok := projections.ServiceRef(ev.env); ok {
			r := c.refs[ref]
			if r == nil {
				var err error
				if r, err = loadRefFacts(b, get, ref); err != nil {
					return err
				}
				c.refs[ref] = r
			}
			r.Add(ev.env)
			if !changed[ref] {
				changed[ref] = true
				c.order = append(c.order, ref)
			}
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	for _, ref := range c.order {
		raw, err := json.Marshal(c.refs[ref].Facts(ref))
		if err != nil {
			return err
		}
		b.exec(put, ref, string(raw))
	}
	return nil
}

// loadRefFacts is a reconciler holding what the table has of ref (nothing
// to read when the cache holds every row).
func loadRefFacts(b *batch, get, ref string) (*projections.Reconciler, error) {
	r := projections.NewReconcilerWith(machine)
	if b.cache.complete {
		return r, nil
	}
	row, err := b.queryRow(get, ref)
	if err != nil {
		return nil, err
	}
	var raw string
	switch err := row.Scan(&raw); {
	case errors.Is(err, sql.ErrNoRows):
		return r, nil
	case err != nil:
		return nil, err
	}
	return r, restoreFacts(r, ref, raw)
}

// restoreFacts gives r the stored facts of ref.
func restoreFacts(r *projections.Reconciler, ref, raw string) error {
	var f projections.RefFacts
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		return fmt.Errorf("stored facts of %s: %w", ref, err)
	}
	r.Restore(ref, f)
	return nil
}
