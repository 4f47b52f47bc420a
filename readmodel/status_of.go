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
