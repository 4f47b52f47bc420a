package readmodel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// TestSearchSagas100k fills the sagas table with 100,000 rows and checks
// that every filter of the back office's list answers a page quickly and
// that keyset pages cover the matches once each, in order.
func TestSearchSagas100k(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100k rows")
	}
	db := openDB(t)
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := tx.Prepare(`INSERT INTO sagas (saga_id, booking_ref, definition, status, current_step, actor, reason, seq,
		started_at, last_event_type, last_event_at, stuck, stuck_step, state) VALUES (?, ?, ?, ?, '', ?, '', 1, ?, 'SagaStarted', ?, ?, '', '{}')`)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{"completed", "completed", "completed", "compensated", "failed", "running"}
	defs := []string{"book-ticket", "book-ticket", "book-ticket", "cancel-booking"}
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000000000Z")
		status, stuck := statuses[i%len(statuses)], ""
		if status == "failed" {
			stuck = "failed" // as the fold stores every failed saga
		}
		if _, err := st.Exec(fmt.Sprintf("saga-%06d", i), fmt.Sprintf("BK-%06d", i), defs[i%len(defs)], status,
			fmt.Sprintf("user-%d", i%1000), at, at, stuck); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    readmodel.SagaQuery
		want int // matches
	}{
		{"all", readmodel.SagaQuery{}, n},
		{"by reference", readmodel.SagaQuery{BookingRef: "BK-054321"}, 1},
		{"by user", readmodel.SagaQuery{Actor: "user-7"}, n / 1000},
		{"by status", readmodel.SagaQuery{Status: "failed"}, n / 6},
		{"stuck", readmodel.SagaQuery{Status: projections.StatusStuck}, n / 6},
		{"by definition", readmodel.SagaQuery{Definition: "cancel-booking"}, n / 4},
		{"by time", readmodel.SagaQuery{From: base.Add(1000 * time.Second), To: base.Add(1500 * time.Second)}, 500},
		{"by user and status", readmodel.SagaQuery{Actor: "user-7", Status: "running"}, 33},
		{"none", readmodel.SagaQuery{Actor: "nobody"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.q
			q.Limit = 50
			start := time.Now()
			rows, next, err := db.SearchSagas(ctx, q)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("first page of %q over %d sagas: %d rows in %s", c.name, n, len(rows), took)
			if took > 2*time.Second {
				t.Errorf("the first page took %s", took)
			}
			// Page through (at most 200 pages) and check order and count.
			seen, last := len(rows), rows
			for page := 0; next != nil && page < 30; page++ {
				q.After = next
				if rows, next, err = db.SearchSagas(ctx, q); err != nil {
					t.Fatal(err)
				}
				if len(rows) > 0 && len(last) > 0 && !rows[0].StartedAt.Before(last[len(last)-1].StartedAt) {
					t.Fatalf("page starts at %s, after the previous page's end %s", rows[0].StartedAt, last[len(last)-1].StartedAt)
				}
				seen, last = seen+len(rows), rows
			}
			if next == nil && seen != c.want || next != nil && seen < 50*30 {
				t.Errorf("%d sagas over every page, want %d", seen, c.want)
			}
		})
	}
}
