package readmodel

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/sagaflow/saga/events"
)

// --- inventory: seats per show, by the rules of projections.Inventory ---
//
// inventory_refs is the fold's held/confirmed per (show, booking ref) and
// inventory_released its released refs; inventory keeps the sums per show,
// updated with every change of inventory_refs, for every show the log
// names. Capacities come from the catalogue when asked (catalog.Shows(),
// as the booking service has them), so a show added to the catalogue later
// is counted from the start without a rebuild.

var inventoryProjection = &projection{
	name:    ProjectionInventory,
	version: 1,
	topics:  []string{topicBookings},
	tables: []table{
		{name: "inventory", columns: `
			show_id   TEXT PRIMARY KEY,
			held      INTEGER NOT NULL DEFAULT 0,
			confirmed INTEGER NOT NULL DEFAULT 0`},
		{name: "inventory_refs", columns: `
			show_id     TEXT NOT NULL,
			booking_ref TEXT NOT NULL,
			seats       INTEGER NOT NULL,
			confirmed   INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (show_id, booking_ref)`},
		{name: "inventory_released", columns: `booking_ref TEXT PRIMARY KEY`},
	},
	apply: applyInventory,
}

// invRef is one (show, booking ref) of inventory_refs: as the batch left
// it, and as stored.
type invRef struct {
	seats, confirmed int
	held             bool
	storedHeld       bool
	storedConfirmed  int
	dirty            bool
}

type invKey struct{ show, ref string }

// invCache is the inventory projection's part of a foldCache.
type invCache struct {
	refs map[invKey]*invRef
	// released is true for a ref known to be released, false for one
	// known not to be.
	released map[string]bool
	// What the current batch changed, in the order first changed.
	refOrder    []invKey
	newReleased []string
	seats       map[string]*[2]int // show: held, confirmed
	seatsOrder  []string
}

func newInvCache() *invCache {
	return &invCache{refs: map[invKey]*invRef{}, released: map[string]bool{}, seats: map[string]*[2]int{}}
}

func applyInventory(b *batch, evs []*event) error {
	c := b.cache.inv
	c.refOrder, c.newReleased, c.seatsOrder = c.refOrder[:0], c.newReleased[:0], c.seatsOrder[:0]
	clear(c.seats)
	var (
		refs     = b.t("inventory_refs")
		released = b.t("inventory_released")
		inv      = b.t("inventory")
		getRef   = fmt.Sprintf(`SELECT seats, confirmed FROM %s WHERE show_id = ? AND booking_ref = ?`, refs)
		isRel    = fmt.Sprintf(`SELECT count(*) FROM %s WHERE booking_ref = ?`, released)
		addRef   = fmt.Sprintf(`INSERT INTO %s (show_id, booking_ref, seats, confirmed) VALUES (?, ?, ?, ?)`, refs)
		delRef   = fmt.Sprintf(`DELETE FROM %s WHERE show_id = ? AND booking_ref = ?`, refs)
		confRef  = fmt.Sprintf(`UPDATE %s SET confirmed = ? WHERE show_id = ? AND booking_ref = ?`, refs)
		release  = fmt.Sprintf(`INSERT INTO %s (booking_ref) VALUES (?) ON CONFLICT DO NOTHING`, released)
		addSeats = fmt.Sprintf(`INSERT INTO %[1]s (show_id, held, confirmed) VALUES (?3, ?1, ?2)
			ON CONFLICT (show_id) DO UPDATE SET held = %[1]s.held + ?1, confirmed = %[1]s.confirmed + ?2`, inv)
	)
	for _, ev := range evs {
		if err := inventoryEvent(b, c, ev.env, getRef, isRel); err != nil {
			return err
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	// Each row the batch changed, once.
	for _, k := range c.refOrder {
		r := c.refs[k]
		switch {
		case r.held && !r.storedHeld:
			b.exec(addRef, k.show, k.ref, r.seats, r.confirmed)
		case !r.held && r.storedHeld:
			b.exec(delRef, k.show, k.ref)
		case r.held && r.confirmed != r.storedConfirmed:
			b.exec(confRef, r.confirmed, k.show, k.ref)
		}
		r.storedHeld, r.storedConfirmed, r.dirty = r.held, r.confirmed, false
	}
	for _, ref := range c.newReleased {
		b.exec(release, ref)
	}
	for _, show := range c.seatsOrder {
		d := c.seats[show]
		b.exec(addSeats, d[0], d[1], show)
	}
	return nil
}

// ref is the cached (show, booking ref), read from the table on a miss.
func (c *invCache) ref(b *batch, k invKey, getRef string) (*invRef, error) {
	if r, ok := c.refs[k]; ok {
		return r, nil
	}
	r := &invRef{}
	if !b.cache.complete {
		row, err := b.queryRow(getRef, k.show, k.ref)
		if err != nil {
			return nil, err
		}
		switch err := row.Scan(&r.seats, &r.confirmed); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			r.held = true
		}
		r.storedHeld, r.storedConfirmed = r.held, r.confirmed
	}
	c.refs[k] = r
	return r, nil
}

func (c *invCache) isReleased(b *batch, ref, isRel string) (bool, error) {
	if rel, ok := c.released[ref]; ok {
		return rel, nil
	}
	n := 0
	if !b.cache.complete {
		row, err := b.queryRow(isRel, ref)
		if err != nil {
			return false, err
		}
		if err := row.Scan(&n); err != nil {
			return false, err
		}
	}
	c.released[ref] = n > 0
	return n > 0, nil
}

func (c *invCache) changed(k invKey, r *invRef) {
	if !r.dirty {
		r.dirty = true
		c.refOrder = append(c.refOrder, k)
	}
}

func (c *invCache) addSeats(show string, held, confirmed int) {
	d := c.seats[show]
	if d == nil {
		d = &[2]int{}
		c.seats[show] = d
		c.seatsOrder = append(c.seatsOrder, show)
	}
	d[0] += held
	d[1] += confirmed
}

func inventoryEvent(b *batch, c *invCache, e events.Envelope, getRef, isRel string) error {
	switch e.Type {
	case events.SeatsReserved, events.SeatsReleased, events.BookingConfirmed:
	default:
		// Other types decode as SeatsV1 too, or not at all; none changes
		// the inventory.
		return nil
	}
	p, err := events.Decode[events.SeatsV1](e)
	if err != nil {
		// events.Check validated the payload, so this is a type out of
		// step with its payload: counted, and it changes no seats.
		return b.undecoded(err)
	}
	if p.Outcome != events.OutcomeSucceeded {
		return nil // a failed step changes no seats
	}
	k := invKey{p.ShowID, p.BookingRef}
	r, err := c.ref(b, k, getRef)
	if err != nil {
		return err
	}
	switch e.Type {
	case events.SeatsReserved:
		if r.held || p.Seats <= 0 {
			return nil
		}
		rel, err := c.isReleased(b, p.BookingRef, isRel)
		if err != nil || rel {
			return err
		}
		r.held, r.seats, r.confirmed = true, p.Seats, 0
		c.changed(k, r)
		c.addSeats(p.ShowID, p.Seats, 0)
	case events.SeatsReleased:
		if !c.released[p.BookingRef] {
			c.released[p.BookingRef] = true
			c.newReleased = append(c.newReleased, p.BookingRef)
		}
		if !r.held {
			return nil
		}
		c.addSeats(p.ShowID, -r.seats, -r.seats*r.confirmed)
		r.held, r.seats, r.confirmed = false, 0, 0
		c.changed(k, r)
	case events.BookingConfirmed:
		if !r.held || r.confirmed == 1 {
			return nil
		}
		r.confirmed = 1
		c.changed(k, r)
		c.addSeats(p.ShowID, 0, r.seats)
	}
	return nil
}
