package readmodel

import (
	"context"
	"strings"
)

// SagaEnd is how far the read model has a saga: its status and how many
// of its events it holds.
type SagaEnd struct {
	Status string
	Events int
}

// SagaStatuses is how far the read model has each of ids, in one query per
// few hundred ids: the HTTP API watches every request that waits for a
// saga's end with it. Sagas the read model does not hold are absent from
// the map.
func (db *DB) SagaStatuses(ctx context.Context, ids []string) (map[string]SagaEnd, error) {
	const chunk = 500 // well inside SQLite's limit on bound parameters
	out := make(map[string]SagaEnd, len(ids))
	for len(ids) > 0 {
		n := min(chunk, len(ids))
		part := ids[:n]
		ids = ids[n:]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")
		rows, err := db.sql.QueryContext(ctx, `SELECT s.saga_id, s.status,
			(SELECT COUNT(*) FROM saga_events e WHERE e.saga_id = s.saga_id)
			FROM sagas s WHERE s.saga_id IN (`+marks+`)`, args...)
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
