package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SagaStatus returns a saga's status and how many events of it the read
// model holds: a cheap look for callers that wait for a saga's end (the
// HTTP API's synchronous requests poll it).
func (db *DB) SagaStatus(ctx context.Context, sagaID string) (status string, events int, err error) {
	err = db.sql.QueryRowContext(ctx, `SELECT s.status, (SELECT COUNT(*) FROM saga_events e WHERE e.saga_id = s.saga_id)
		FROM sagas s WHERE s.saga_id = ?`, sagaID).Scan(&status, &events)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, fmt.Errorf("%w: no saga %q", ErrNotFound, sagaID)
	}
	return status, events, err
}

// SagaEnd is how far the read model has a saga: its status and how many
// of its events it holds.
type SagaEnd struct {
	Status string
	Events int
}

// SagaStatuses is SagaStatus for many sagas in one query per few hundred
// ids, for a caller that watches many waiting requests at once; sagas the
// read model does not hold are absent from the map.
func (db *DB) SagaStatuses(ctx context.Context, ids []string) (map[string]SagaEnd, error) {
	const chunk = 500 // well inside SQLite's limit on bound parameters
	out := make(map[string]SagaEnd, len(ids))
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		part := ids[:n]
		ids = ids[n:]
		args := make([]any, len(part))
		marks := make([]byte, 0, 2*len(part))
		for i, id := range part {
			args[i] = id
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
		}
		rows, err := db.sql.QueryContext(ctx, `SELECT s.saga_id, s.status,
			(SELECT COUNT(*) FROM saga_events e WHERE e.saga_id = s.saga_id)
			FROM sagas s WHERE s.saga_id IN (`+string(marks)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var e SagaEnd
			if err := rows.Scan(&id, &e.Status, &e.Events); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
