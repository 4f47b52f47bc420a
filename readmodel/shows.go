package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
)

// --- shows: the shows on sale and their venues, searchable by place ---
//
// One row per show, from the booking service's ShowAdded events: the first
// listing of a show id wins, as in the booking service. Seats left join the
// inventory projection at query time, so the two fold independently.

// ProjectionShows names the shows projection.
const ProjectionShows = "shows"

var showsProjection = &projection{
	name:    ProjectionShows,
	version: 1,
	topics:  []string{topicBookings},
	tables: []table{
		{name: "shows", columns: `
			show_id     TEXT PRIMARY KEY,
			title       TEXT NOT NULL,
			venue       TEXT NOT NULL,
			city        TEXT NOT NULL,
			state       TEXT NOT NULL,
			country     TEXT NOT NULL,
			capacity    INTEGER NOT NULL,
			price_cents INTEGER NOT NULL`,
			indexes: []string{"country, state"}},
	},
	apply: applyShows,
}

func applyShows(b *batch, evs []*event) error {
	insert := fmt.Sprintf(`INSERT INTO %s (show_id, title, venue, city, state, country, capacity, price_cents)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (show_id) DO NOTHING`, b.t("shows"))
	for _, ev := range evs {
		if ev.env.Type == events.ShowAdded {
			p, err := events.Decode[events.ShowAddedV1](ev.env)
			if err == nil && p.Outcome == events.OutcomeSucceeded {
				b.exec(insert, p.ShowID, p.Title, p.Venue, p.City, strings.ToUpper(p.State),
					strings.ToUpper(p.Country), p.Capacity, p.PriceCents)
			}
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	return nil
}

// SearchShows returns the shows in a country (every show when country is
// empty), and state when given (both without regard to case), with their
// seats left, ordered by id.
func (db *DB) SearchShows(ctx context.Context, country, state string) ([]projections.ShowListing, error) {
	q := `SELECT s.show_id, s.title, s.venue, s.city, s.state, s.country, s.capacity, s.price_cents, COALESCE(i.held, 0)
		FROM shows s LEFT JOIN inventory i ON i.show_id = s.show_id WHERE (? = '' OR s.country = ?)`
	args := []any{country, strings.ToUpper(country)}
	if state != "" {
		q += ` AND s.state = ?`
		args = append(args, strings.ToUpper(state))
	}
	rows, err := db.sql.QueryContext(ctx, q+` ORDER BY s.show_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []projections.ShowListing{}
	for rows.Next() {
		var l projections.ShowListing
		var held int
		if err := rows.Scan(&l.ShowID, &l.Title, &l.Venue, &l.City, &l.State, &l.Country, &l.Capacity, &l.PriceCents, &held); err != nil {
			return nil, err
		}
		l.Available = l.Capacity - held
		out = append(out, l)
	}
	return out, rows.Err()
}

// listedCapacity is a show's capacity as listed, if it was.
func listedCapacity(ctx context.Context, tx *sql.Tx, id string) (int, bool, error) {
	var c int
	err := tx.QueryRowContext(ctx, `SELECT capacity FROM shows WHERE show_id = ?`, id).Scan(&c)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return c, err == nil, err
}
