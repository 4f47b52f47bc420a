package client

import (
	"context"
	"sort"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/dryrun"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// DryRun replays the recorded sagas of def's name started at since or
// later (the last limit of them, when limit > 0) through def, and reports
// for each whether it would have decided as the log says. It reads the
// saga log and the replies and writes nothing.
func (c *Client) DryRun(ctx context.Context, def saga.Definition, since time.Time, limit int) ([]dryrun.Report, error) {
	logs := map[string][]events.Envelope{}
	var order []string
	err := c.readChecked(ctx, events.TopicSagaLog, func(e events.Envelope, _ bus.Record) {
		if e.Type == events.SagaStarted {
			p, err := events.Decode[events.SagaStartedV1](e)
			if err != nil || p.Definition != def.Name || e.OccurredAt.Before(since) {
				return
			}
			if _, seen := logs[e.SagaID]; seen {
				return
			}
			order = append(order, e.SagaID)
			logs[e.SagaID] = []events.Envelope{}
		}
		// An event logged twice (an append retried) is one event.
		if l, ok := logs[e.SagaID]; ok && e.ID == events.SagaEventID(e.SagaID, len(l)+1) {
			logs[e.SagaID] = append(l, e)
		}
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(order, func(i, j int) bool { return logs[order[i]][0].OccurredAt.Before(logs[order[j]][0].OccurredAt) })
	if limit > 0 && len(order) > limit {
		order = order[len(order)-limit:]
	}
	wanted := map[string]bool{}
	for _, id := range order {
		wanted[id] = true
	}
	replies := map[string]saga.Reply{}
	err = c.readChecked(ctx, events.TopicReplies, func(e events.Envelope, _ bus.Record) {
		if !wanted[e.SagaID] || e.Type != events.StepReply {
			return
		}
		if p, err := events.Decode[events.StepReplyV1](e); err == nil {
			replies[e.ID] = saga.Reply{Envelope: e, Payload: p}
		}
	})
	if err != nil {
		return nil, err
	}
	// The orchestrator's default horizon: an unanswered compensation is
	// retried as it would be live.
	m := saga.NewMachine(saga.Definitions{def.Name: def}).WithCompensationHorizon(saga.DefaultCompensationHorizon)
	find := func(id string) (saga.Reply, bool) { r, ok := replies[id]; return r, ok }
	out := make([]dryrun.Report, 0, len(order))
	for _, id := range order {
		out = append(out, dryrun.Run(m, logs[id], find))
	}
	return out, nil
}
