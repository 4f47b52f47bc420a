package readmodel

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
)

// ProjectionTimeline is the services' domain events by booking reference:
// with the saga log's timeline, what every service did for one booking.
const ProjectionTimeline = "timeline"

// --- timeline: one row per domain event of the services' logs, by the
// booking reference (correlation id) it names ---
//
// Only the event's type, step and time are kept, never its payload (which
// may name a payment token). A participant may write an event twice (the
// same deterministic id after a crash): the event id is the key, and the
// second is ignored.

var timelineProjection = &projection{
	name:    ProjectionTimeline,
	version: 1,
	topics: []string{events.DomainTopic(events.ServiceUser), topicBookings, topicPayments,
		events.DomainTopic(events.ServiceNotification)},
	tables: []table{
		{name: "service_events", columns: `
			event_id    TEXT PRIMARY KEY,
			booking_ref TEXT NOT NULL,
			service     TEXT NOT NULL,
			type        TEXT NOT NULL,
			step        TEXT NOT NULL,
			at          TEXT`,
			indexes: []string{"booking_ref, at"}},
	},
	apply: applyTimeline,
}

func applyTimeline(b *batch, evs []*event) error {
	ins := fmt.Sprintf(`INSERT OR IGNORE INTO %s (event_id, booking_ref, service, type, step, at) VALUES (?, ?, ?, ?, ?, ?)`,
		b.t("service_events"))
	for _, ev := range evs {
		if ref := ev.env.CorrelationID; ref != "" {
			b.exec(ins, ev.env.ID, ref, serviceOfTopic(ev.src.Topic), ev.env.Type, stepOf(ev.env), fmtTime(ev.env.OccurredAt))
		}
		if err := b.applied(); err != nil {
			return err
		}
	}
	return nil
}

// serviceOfTopic is the service whose domain log topic is.
func serviceOfTopic(topic string) string { return strings.TrimSuffix(topic, ".events") }

// ServiceEvent is a domain event of one service about a booking.
type ServiceEvent struct {
	ID      string    `json:"id"`
	Service string    `json:"service"`
	Type    string    `json:"type"`
	Step    string    `json:"step,omitempty"`
	At      time.Time `json:"at"`
}

// ServiceEvents returns what the services' logs hold of a booking
// reference, in the order the events happened.
func (db *DB) ServiceEvents(ctx context.Context, ref string) ([]ServiceEvent, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT event_id, service, type, step, at FROM service_events
		WHERE booking_ref = ? ORDER BY at, event_id`, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ServiceEvent{}
	for rows.Next() {
		var e ServiceEvent
		var at sql.NullString
		if err := rows.Scan(&e.ID, &e.Service, &e.Type, &e.Step, &at); err != nil {
			return nil, err
		}
		e.At = parseTime(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
