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

func applyInventory(b *batch, evs []event) error {
	var (
		refs     = b.t("inventory_refs")
		released = b.t("inventory_released")
		inv      = b.t("inventory")
		getRef   = fmt.Sprintf(`SELECT seats, confirmed FROM %s WHERE show_id = ? AND booking_ref = ?`, refs)
		isRel    = fmt.Sprintf(`SELECT count(*) FROM %s WHERE booking_ref = ?`, released)
		addRef   = fmt.Sprintf(`INSERT INTO %s (show_id, booking_ref, seats) VALUES (?, ?, ?)`, refs)
		delRef   = fmt.Sprintf(`DELETE FROM %s WHERE show_id = ? AND booking_ref = ?`, refs)
		confRef  = fmt.Sprintf(`UPDATE %s SET confirmed = 1 WHERE show_id = ? AND booking_ref = ?`, refs)
		release  = fmt.Sprintf(`INSERT INTO %s (booking_ref) VALUES (?) ON CONFLICT DO NOTHING`, released)
		addSeats = fmt.Sprintf(`INSERT INTO %[1]s (show_id, held, confirmed) VALUES (?3, ?1, ?2)
			ON CONFLICT (show_id) DO UPDATE SET held = %[1]s.held + ?1, confirmed = %[1]s.confirmed + ?2`, inv)
	)
	for _, ev := range evs {
		if err := inventoryEvent(b, ev.env, getRef, isRel, addRef, delRef, confRef, release, addSeats); err != nil {
			return err
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	return nil
}

func inventoryEvent(b *batch, e events.Envelope, getRef, isRel, addRef, delRef, confRef, release, addSeats string) error {
	p, err := events.Decode[events.SeatsV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return nil
	}
	row, err := b.queryRow(getRef, p.ShowID, p.BookingRef)
	if err != nil {
		return err
	}
	var seats, confirmed int
	held := true
	switch err := row.Scan(&seats, &confirmed); {
	case errors.Is(err, sql.ErrNoRows):
		held = false
	case err != nil:
		return err
	}
	switch e.Type {
	case events.SeatsReserved:
		if held || p.Seats <= 0 {
			return nil
		}
		row, err := b.queryRow(isRel, p.BookingRef)
		if err != nil {
			return err
		}
		var n int
		if err := row.Scan(&n); err != nil || n > 0 {
			return err
		}
		if _, err := b.exec(addRef, p.ShowID, p.BookingRef, p.Seats); err != nil {
			return err
		}
		_, err = b.exec(addSeats, p.Seats, 0, p.ShowID)
		return err
	case events.SeatsReleased:
		if _, err := b.exec(release, p.BookingRef); err != nil {
			return err
		}
		if !held {
			return nil
		}
		if _, err := b.exec(delRef, p.ShowID, p.BookingRef); err != nil {
			return err
		}
		_, err = b.exec(addSeats, -seats, -seats*confirmed, p.ShowID)
		return err
	case events.BookingConfirmed:
		if !held || confirmed == 1 {
			return nil
		}
		if _, err := b.exec(confRef, p.ShowID, p.BookingRef); err != nil {
			return err
		}
		_, err = b.exec(addSeats, 0, seats, p.ShowID)
		return err
	}
	return nil
}
