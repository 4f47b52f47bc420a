package readmodel_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/readmodel"
)

// Over a real Kafka-protocol broker: CatchUp reads every topic to its end
// and the read models equal the fold of what the broker holds; Status
// reports offsets, ends and lags.
func TestCatchUpAndStatus(t *testing.T) {
	t.Parallel()
	cfg := startBroker(t)
	publishSims(t, cfg, 100, 3000)
	recs := readBack(t, cfg)
	db := openDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	st, err := readmodel.Status(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != len(readmodel.Names()) {
		t.Fatalf("status of %d projections, want %d", len(st), len(readmodel.Names()))
	}
	for _, p := range st {
		if p.LagEvents == 0 || len(p.Partitions) == 0 {
			t.Fatalf("%s: before catching up, lag %d over %d partitions", p.Name, p.LagEvents, len(p.Partitions))
		}
	}

	if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
		t.Fatal(err)
	}
	assertMatches(t, db, fold(cfg, recs))
	st, err = readmodel.Status(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	var sagaLog int64
	for _, r := range recs {
		if r.Topic == cfg.Topic(topicSagaLog) {
			sagaLog++
		}
	}
	for _, p := range st {
		if p.LagEvents != 0 || p.LagSeconds != 0 {
			t.Fatalf("%s: after catching up, lag %d events %.1fs", p.Name, p.LagEvents, p.LagSeconds)
		}
		var ends int64
		for _, part := range p.Partitions {
			if part.NextOffset != part.LogEnd {
				t.Fatalf("%s %s/%d: next %d, end %d", p.Name, part.Topic, part.Partition, part.NextOffset, part.LogEnd)
			}
			if part.Topic == topicSagaLog {
				ends += part.LogEnd
			}
		}
		if p.Name == readmodel.ProjectionSagas && (ends != sagaLog || p.Applied+p.Skipped != sagaLog) {
			t.Fatalf("sagas: ends %d, applied %d + skipped %d, log has %d", ends, p.Applied, p.Skipped, sagaLog)
		}
	}

	// Catching up again reads nothing new and changes nothing.
	before := dump(t, db, "")
	if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
		t.Fatal(err)
	}
	if dump(t, db, "") != before {
		t.Fatal("a second CatchUp changed the read models")
	}
}

// A projection started against a log that already holds 100k events
// catches up (following the log with Run), equals the fold, and keeps up
// with events published while it runs.
func TestRunCatchesUpWith100kEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100k events")
	}
	t.Parallel()
	cfg := startBroker(t)
	start := time.Now()
	events := 100_000
	if raceEnabled {
		events = 20_000
	}
	n := publishSims(t, cfg, 1000, events)
	t.Logf("published %d events in %v", n, time.Since(start).Round(time.Millisecond))
	db := openDB(t)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var mu sync.Mutex
	var errs []error
	start = time.Now()
	go func() {
		done <- readmodel.RunWith(ctx, cfg, db, readmodel.RunOptions{OnError: func(p string, err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}})
	}()
	bustest.Eventually(t, 5*time.Minute, func() (bool, string) { return caughtUp(t, cfg, db) })
	t.Logf("caught up with %d events in %v", n, time.Since(start).Round(time.Millisecond))
	assertMatches(t, db, fold(cfg, readBack(t, cfg)))

	// More events while it runs: it follows them.
	publishSims(t, cfg, 5000, 2000)
	bustest.Eventually(t, time.Minute, func() (bool, string) { return caughtUp(t, cfg, db) })
	assertMatches(t, db, fold(cfg, readBack(t, cfg)))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("Run met errors: %v", errors.Join(errs...))
	}
}

// Two readers of the same projection at once (a running system and a CLI
// catching up) apply every record once between them.
func TestConcurrentReadersApplyOnce(t *testing.T) {
	t.Parallel()
	cfg := startBroker(t)
	publishSims(t, cfg, 300, 4000)
	db := openDB(t)
	db.SetBatchSize(50)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- readmodel.CatchUp(ctx, cfg, db) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	assertMatches(t, db, fold(cfg, readBack(t, cfg)))
}

func TestUnknownProjection(t *testing.T) {
	db := openDB(t)
	if _, err := db.Apply(context.Background(), bus.Config{}, "nope", nil); err == nil {
		t.Fatal("Apply of an unknown projection succeeded")
	}
	if _, err := db.Apply(context.Background(), bus.Config{}, readmodel.ProjectionInventory, []bus.Record{{Topic: topicSagaLog}}); err == nil {
		t.Fatal("inventory applied a record of the saga log")
	}
	if _, err := db.Booking(context.Background(), "BK-NONE"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("Booking of an unknown ref: %v", err)
	}
	if _, err := db.Saga(context.Background(), "nope"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("Saga of an unknown id: %v", err)
	}
}
