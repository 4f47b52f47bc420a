package client

import (
	"context"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
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
	// Source is where the answer comes from: "read model" or "logs".
	Source string `json:"source,omitempty"`
	// LagEvents, for an answer from the read model, is how many log
	// records it had still to apply: findings those may explain are left
	// out.
	LagEvents int64 `json:"lag_events,omitempty"`
}

// reconcileReader is a read model that keeps a reconciliation
// (readmodel.DB).
type reconcileReader interface {
	Reconcile(ctx context.Context, cfg bus.Config, now time.Time) (readmodel.Reconciled, error)
}

// ReconcileFromReadModel answers from the read model the client was given
// (UseReadModel) when it keeps a reconciliation; ok is false otherwise.
func (c *Client) ReconcileFromReadModel(ctx context.Context, now time.Time) (rec Reconciliation, ok bool, err error) {
	rr, ok := c.reader.(reconcileReader)
	if !ok {
		return Reconciliation{}, false, nil
	}
	if now.IsZero() {
		now = c.now()
	}
	r, err := rr.Reconcile(ctx, c.cfg, now)
	if err != nil {
		return Reconciliation{}, true, err
	}
	return FromReadModel(r, now), true, nil
}

// FromReadModel is the report of a reconciliation the read model answered
// at now.
func FromReadModel(r readmodel.Reconciled, now time.Time) Reconciliation {
	out := Reconciliation{CheckedAt: now.UTC(), Findings: r.Findings, Summary: r.Summary, Source: "read model", LagEvents: r.LagEvents}
	if len(r.Skipped) > 0 {
		out.Unreadable = r.Skipped
	}
	return out
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
	// The read model answers when it has applied everything: no log is
	// folded then.
	if r, ok, err := c.ReconcileFromReadModel(ctx, now); ok && err == nil && r.LagEvents == 0 {
		return r, nil
	}
	rec := projections.NewReconciler(flows.All())
	unreadable := map[string]int{}
	for _, t := range ReconcileTopics() {
		err := bus.ReadAll(ctx, c.cfg, c.cfg.Topic(t), func(r bus.Record) error {
			e, err := c.cfg.CheckLogged(r)
			if err != nil {
				unreadable[t]++
				return nil //nolint:nilerr // counted as unreadable; the reconciliation goes on
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
	out := Reconciliation{CheckedAt: now.UTC(), Findings: rec.Settle(rec.Report(now), later), Summary: rec.Summary(), Source: "logs"}
	if len(unreadable) > 0 {
		out.Unreadable = unreadable
	}
	return out, nil
}
