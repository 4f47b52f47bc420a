package readmodel_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaflow/saga/readmodel"
)

// Read from Kafka, records are folded over what earlier batches left in
// memory (sagas let go once they end and read back when a record of
// theirs comes after), and each batch is folded while the one before it
// is written. In batches of any size, catching up and rebuilding give the
// tables of the pure fold, and rebuilding gives the tables catching up
// does.
func TestBatchesFoldOverTheCache(t *testing.T) {
	t.Parallel()
	events, sizes := 4000, []int{1, 7, 333}
	if testing.Short() || raceEnabled {
		events, sizes = 1500, []int{7, 333}
	}
	cfg := startBroker(t)
	publishSims(t, cfg, 1300, events)
	m := fold(cfg, readBack(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, size := range sizes {
		db := openDB(t)
		db.SetBatchSize(size)
		if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
			t.Fatal(err)
		}
		assertMatches(t, db, m)
		live := dump(t, db, "")
		if _, err := readmodel.Rebuild(ctx, cfg, db); err != nil {
			t.Fatal(err)
		}
		assertMatches(t, db, m)
		if got := dump(t, db, ""); got != live {
			t.Fatalf("batches of %d: rebuilt tables differ from caught-up ones:\n%s", size, diff(got, live))
		}
	}
}
