package readmodel

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
)

// --- revenue: money per booking ref (payment log) and the show of each
// booking ref (saga log), joined per show by the revenue view ---
//
// Payment events do not name the show, and the two logs are read in no
// particular order relative to each other, so each table folds one log
// alone and only the view joins them: any interleaving of the two logs
// gives the same answer.

var revenueProjection = &projection{
	name:    ProjectionRevenue,
	version: 3, // 2: a refund of nothing neither hides a charge nor a later refund; 3: the bookings of any definition that books earn
	topics:  []string{topicPayments, topicSagaLog},
	tables: []table{
		{name: "revenue_payments", columns: `
			booking_ref    TEXT PRIMARY KEY,
			charged        INTEGER NOT NULL DEFAULT 0,
			charge_id      TEXT NOT NULL DEFAULT '',
			charged_cents  INTEGER NOT NULL DEFAULT 0,
			refunded       INTEGER NOT NULL DEFAULT 0,
			refunded_cents INTEGER NOT NULL DEFAULT 0,
			other_charges  TEXT NOT NULL DEFAULT '[]'`},
		{name: "revenue_shows", columns: `
			booking_ref TEXT PRIMARY KEY,
			saga_id     TEXT NOT NULL,
			show_id     TEXT NOT NULL`},
	},
	apply: applyRevenue,
}

// money is what the payment log says of one booking ref, by the rules of
// projections.Reconciler: the money the records say moved.
type money struct {
	charged       bool
	chargeID      string
	chargedCents  int64
	refunded      bool
	refundedCents int64
	others        []string
}

// revEntry is a booking ref's money as the batch left it.
type revEntry struct {
	m     money
	dirty bool
}

// revCache is the revenue projection's part of a foldCache.
type revCache struct {
	refs  map[string]*revEntry
	order []string // changed by the current batch
}

func newRevCache() *revCache { return &revCache{refs: map[string]*revEntry{}} }

func applyRevenue(b *batch, evs []*event) error {
	c := b.cache.rev
	c.order = c.order[:0]
	var (
		get = fmt.Sprintf(`SELECT charged, charge_id, charged_cents, refunded, refunded_cents, other_charges
			FROM %s WHERE booking_ref = ?`, b.t("revenue_payments"))
		put = fmt.Sprintf(`INSERT INTO %s (booking_ref, charged, charge_id, charged_cents, refunded, refunded_cents, other_charges)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (booking_ref) DO UPDATE SET charged = excluded.charged, charge_id = excluded.charge_id,
				charged_cents = excluded.charged_cents, refunded = excluded.refunded,
				refunded_cents = excluded.refunded_cents, other_charges = excluded.other_charges`, b.t("revenue_payments"))
		// The show of a booking ref is its book-ticket saga's; should two
		// sagas claim one ref, the smallest saga id wins, in any order.
		show = fmt.Sprintf(`INSERT INTO %[1]s (booking_ref, saga_id, show_id) VALUES (?, ?, ?)
			ON CONFLICT (booking_ref) DO UPDATE SET saga_id = excluded.saga_id, show_id = excluded.show_id
			WHERE excluded.saga_id < %[1]s.saga_id`, b.t("revenue_shows"))
	)
	for _, ev := range evs {
		var err error
		switch ev.src.Topic {
		case topicPayments:
			err = revenuePayment(b, c, ev.env, get)
		case topicSagaLog:
			err = revenueShow(b, ev, show)
		}
		if err != nil {
			return err
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	// Each booking ref's money the batch changed, once.
	for _, ref := range c.order {
		e := c.refs[ref]
		m := e.m
		if m.others == nil {
			m.others = []string{}
		}
		raw, _ := json.Marshal(m.others)
		b.exec(put, ref, m.charged, m.chargeID, m.chargedCents, m.refunded, m.refundedCents, string(raw))
		e.dirty = false
	}
	return nil
}

func revenueShow(b *batch, ev *event, show string) error {
	e := ev.env
	if e.Type != events.SagaStarted || e.ID != events.SagaEventID(e.SagaID, 1) {
		return nil
	}
	p, err := ev.startedPayload()
	if err != nil {
		// events.Check validated the payload: counted, it earns nothing.
		return b.undecoded(err)
	}
	s, err := machine.Apply(saga.State{}, e)
	if err != nil {
		return b.undecoded(err) // counted: a start that cannot be read earns nothing
	}
	if projections.KindOf(machine, s) != projections.KindBook {
		return nil // other definitions earn nothing
	}
	var d events.BookingData
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return b.undecoded(err) // counted: a booking that cannot be read earns nothing
	}
	if d.ShowID == "" {
		return nil // a booking without a show earns nothing
	}
	b.exec(show, p.BookingRef, e.SagaID, d.ShowID)
	return nil
}

func revenuePayment(b *batch, c *revCache, e events.Envelope, get string) error {
	if e.Type != events.PaymentCharged && e.Type != events.PaymentRefunded {
		return nil
	}
	p, err := events.Decode[events.PaymentV1](e)
	if err != nil {
		// events.Check validated the payload: counted, it moves no money.
		return b.undecoded(err)
	}
	if p.Outcome != events.OutcomeSucceeded {
		return nil // a failed payment moves no money
	}
	ent, err := c.entry(b, p.BookingRef, get)
	if err != nil {
		return err
	}
	m := &ent.m
	switch e.Type {
	case events.PaymentCharged:
		switch {
		case !m.charged:
			m.charged, m.chargeID, m.chargedCents = true, p.ChargeID, p.AmountCents
		case p.ChargeID != m.chargeID && p.AmountCents > 0:
			// Another charge id is money taken again; the same one
			// recorded again counts once.
			if slices.Contains(m.others, p.ChargeID) {
				return nil
			}
			m.others = append(m.others, p.ChargeID)
		default:
			return nil
		}
	case events.PaymentRefunded:
		// The first refund that returned money is the charge returned,
		// and later ones repeat it. A refund of nothing (a tombstone)
		// moves no money; it only makes the ref known.
		if m.refunded {
			return nil
		}
		if p.AmountCents > 0 {
			m.refunded, m.refundedCents = true, p.AmountCents
		}
	}
	if !ent.dirty {
		ent.dirty = true
		c.order = append(c.order, p.BookingRef)
	}
	return nil
}

// entry is ref's money, read from the table on a miss.
func (c *revCache) entry(b *batch, ref, get string) (*revEntry, error) {
	if e, ok := c.refs[ref]; ok {
		return e, nil
	}
	e := &revEntry{}
	if !b.cache.complete {
		row, err := b.queryRow(get, ref)
		if err != nil {
			return nil, err
		}
		m := &e.m
		var others string
		switch err := row.Scan(&m.charged, &m.chargeID, &m.chargedCents, &m.refunded, &m.refundedCents, &others); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			if err := json.Unmarshal([]byte(others), &m.others); err != nil {
				return nil, fmt.Errorf("stored other charges of %s: %w", ref, err)
			}
		}
	}
	c.refs[ref] = e
	return e, nil
}
