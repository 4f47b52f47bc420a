package client

import (
	"context"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// Reconciliation is what `saga reconcile` reports: where the services' logs
// disagree, and what they add up to.
type Reconciliation struct {
	CheckedAt time.Time             `json:"checked_at"`
	Findings  []projections.Finding `json:"findings"`
	Summary   projections.Summary   `json:"summary"`
	// Unreadable counts, per log, the records that do not check (an
	// unknown type or version, say); they were left out.
	Unreadable map[string]int `json:"unreadable,omitempty"`
}

// ReconcileTopics are the logs Reconcile reads, in the order it reads them.
func ReconcileTopics() []string {
	return []string{events.TopicSagaLog, events.DomainTopic(events.ServiceBooking),
		events.DomainTopic(events.ServicePayment), events.DomainTopic(events.ServiceNotification)}
}

// Reconcile reads the saga log and the booking, payment and notification
// logs and reports where they disagree at now (the client's clock when
// zero). The saga log is read first and once more after the others: a
// finding about a booking whose sagas moved on in between is left out, so
// a busy system is not reported for logs read at different moments.
func (c *Client) Reconcile(ctx context.Context, now time.Time) (Reconciliation, error) {
	if now.IsZero() {
		now = c.now()
	}
	rec := projections.NewReconciler(flows.All())
	unreadable := map[string]int{}
	for _, t := range ReconcileTopics() {
		err := bus.ReadAll(ctx, c.cfg, c.cfg.Topic(t), func(r bus.Record) error {
			e, err := bus.CheckRecord(r)
			if err != nil {
				unreadable[t]++
				return nil
			}
			rec.Add(e)
			return nil
		})
		if err != nil {
			return Reconciliation{}, err
		}
	}
	later, err := c.Sagas(ctx)
	if err != nil {
		return Reconciliation{}, err
	}
	out := Reconciliation{CheckedAt: now.UTC(), Findings: rec.Settle(rec.Report(now), later), Summary: rec.Summary()}
	if len(unreadable) > 0 {
		out.Unreadable = unreadable
	}
	return out, nil
}
