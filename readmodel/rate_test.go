package readmodel_test

import (
	"context"
	"errors"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// envRateEvents sets how many events TestRebuildRate writes; unset, the
// test is skipped. The figure in the docs was measured with
//
//	READMODEL_BENCH_EVENTS=1000000 go test -count=1 -run TestRebuildRate -v -timeout 60m ./readmodel/
const envRateEvents = "READMODEL_BENCH_EVENTS"

// envRateProfile, when set, is the file a CPU profile of the rebuild of
// every projection at once is written to.
const envRateProfile = "READMODEL_BENCH_PROFILE"

// envRateAlone, set to 0, skips the rebuild of each projection alone.
const envRateAlone = "READMODEL_BENCH_ALONE"

// TestRebuildRate writes simulated bookings to the broker until the folded
// topics hold at least READMODEL_BENCH_EVENTS events, then measures, side
// by side: the raw read of those topics (bus.ReadAll, nothing applied), a
// rebuild of every projection at once, and a rebuild of each alone.
func TestRebuildRate(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envRateEvents))
	if n <= 0 {
		t.Skipf("set %s=1000000 to measure the rebuild rate", envRateEvents)
	}
	cfg := startBroker(t)
	start := time.Now()
	total := publishSims(t, cfg, 1_000_000, n)
	t.Logf("wrote %d events (saga.events, booking.events, payment.events) in %v", total, time.Since(start).Round(time.Second))

	ctx := context.Background()
	perTopic := map[string]int{}
	start = time.Now()
	for _, topic := range readmodel.Topics() {
		if err := bus.ReadAll(ctx, cfg, cfg.Topic(topic), func(bus.Record) error {
			perTopic[topic]++
			return nil
		}); err != nil && !errors.Is(err, bus.ErrUnknownTopic) {
			t.Fatal(err)
		}
	}
	raw := time.Since(start)
	// Every topic the rebuild reads, the dead-letter one included.
	total = 0
	for _, n := range perTopic {
		total += n
	}
	rawRate := float64(total) / raw.Seconds()
	t.Logf("raw read (bus.ReadAll, nothing applied): %d events in %v = %.0f events/s (%v)", total, raw.Round(time.Millisecond), rawRate, perTopic)

	db := openDB(t)
	if path := os.Getenv(envRateProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
	}
	start = time.Now()
	res, err := readmodel.Rebuild(ctx, cfg, db)
	all := time.Since(start)
	pprof.StopCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild of every projection at once: %d events of the log in %v = %.0f events/s (%.1fx the raw read time)",
		total, all.Round(time.Millisecond), float64(total)/all.Seconds(), all.Seconds()/raw.Seconds())
	for _, r := range res {
		t.Logf("  %-9s %8d records, %.0f records/s", r.Projection, r.Records, r.RecordsPerSecond)
	}
	for _, name := range readmodel.Names() {
		if os.Getenv(envRateAlone) == "0" {
			break
		}
		res, err := readmodel.Rebuild(ctx, cfg, db, name)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		var topicRecs int
		for _, topic := range projectionTopics[name] {
			topicRecs += perTopic[topic]
		}
		t.Logf("rebuild of %-9s alone: %8d records in %v = %.0f records/s (raw read of its topics: %.0f events/s)",
			name, r.Records, r.Duration.Round(time.Millisecond), r.RecordsPerSecond, rawRate)
		if r.Records != topicRecs {
			t.Fatalf("%s read %d records, its topics hold %d", name, r.Records, topicRecs)
		}
	}
	if ok, why := caughtUp(t, cfg, db); !ok {
		t.Fatalf("not caught up after the rebuilds: %s", why)
	}
	if fi, err := os.Stat(db.Path()); err == nil {
		t.Logf("database file: %d MiB", fi.Size()>>20)
	}
}
