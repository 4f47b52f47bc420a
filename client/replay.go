package client

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// LogEntry is one record of a log, as `saga replay` prints it.
type LogEntry struct {
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	Key           string          `json:"key"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Version       int             `json:"version"`
	SagaID        string          `json:"saga_id,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Actor         string          `json:"actor,omitempty"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Payload       json.RawMessage `json:"payload"`
}

// ReplayFilter narrows a replay.
type ReplayFilter struct {
	// SagaID keeps the records of one saga.
	SagaID string
	// Topics to read; the saga log and every domain log when empty.
	Topics []string
}

// LogTopics are the logs of record: the saga log and each service's log.
func LogTopics() []string {
	out := []string{events.TopicSagaLog}
	for _, s := range events.Services() {
		out = append(out, events.DomainTopic(s))
	}
	return out
}

// Replay reads the logs as they stand and returns their records in the
// order they happened: by time, and by log position within a partition.
func (c *Client) Replay(ctx context.Context, f ReplayFilter) ([]LogEntry, error) {
	topics := f.Topics
	if len(topics) == 0 {
		topics = LogTopics()
	}
	var out []LogEntry
	for _, t := range topics {
		err := c.readChecked(ctx, t, func(e events.Envelope, r bus.Record) {
			if f.SagaID != "" && e.SagaID != f.SagaID {
				return
			}
			out = append(out, LogEntry{Topic: t, Partition: r.Partition, Offset: r.Offset, Key: string(r.Key),
				ID: e.ID, Type: e.Type, Version: e.Version, SagaID: e.SagaID, CorrelationID: e.CorrelationID,
				CausationID: e.CausationID, Actor: e.Actor, OccurredAt: e.OccurredAt, Payload: e.Payload})
		})
		if err != nil {
			return nil, err
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].OccurredAt.Before(out[j].OccurredAt) })
	return out, nil
}
