package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// TestSeedHistory seeds a small history and folds it back as the
// orchestrator's recovery does: every record is a saga log event in order
// on its saga's partition, and the sagas are the ones promised.
func TestSeedHistory(t *testing.T) {
	cfg := signed(t, bustest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	res, err := SeedHistory(ctx, cfg, HistorySpec{Events: 2000, Running: 50, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %+v", res)
	// 2000 events: sagas 0-8 complete (12 events each), saga 9 is
	// compensated (10), and so on; 170 sagas (17 compensated) reach 2006.
	if res.EndedSagas != 170 || res.Compensated != 17 || res.Completed != 153 || res.EndedEvents != 2006 {
		t.Errorf("ended sagas %d (%d completed, %d compensated) in %d events, want 170 (153, 17) in 2006",
			res.EndedSagas, res.Completed, res.Compensated, res.EndedEvents)
	}
	if n := EndedEvents(170); n != 2006 {
		t.Errorf("EndedEvents(170) = %d, want 2006", n)
	}
	if res.RunningSagas != 50 || res.RunningEvents != 100 || res.Events != res.EndedEvents+100 {
		t.Errorf("running %d sagas in %d events, %d events in all", res.RunningSagas, res.RunningEvents, res.Events)
	}
	if res.Bytes < int64(res.Events)*200 || res.Partitions < 1 {
		t.Errorf("%d bytes on %d partitions", res.Bytes, res.Partitions)
	}

	m := saga.NewMachine(flows.All())
	states := map[string]saga.State{}
	records := 0
	err = bus.ReadAll(ctx, cfg, cfg.Topic(events.TopicSagaLog), func(r bus.Record) error {
		records++
		e, err := events.FromHeaders("", r.Headers, r.Value)
		if err == nil {
			e, err = events.Check(e)
		}
		if err != nil {
			return fmt.Errorf("offset %d: %w", r.Offset, err)
		}
		if string(r.Key) != e.SagaID || r.Partition != bus.PartitionFor(e.SagaID, res.Partitions) {
			return fmt.Errorf("saga %s on partition %d with key %q", e.SagaID, r.Partition, r.Key)
		}
		next, applied, err := m.Fold(states[e.SagaID], e)
		if err != nil || !applied {
			return fmt.Errorf("saga %s: %s does not fold (applied %v): %v", e.SagaID, e.Type, applied, err)
		}
		states[e.SagaID] = next
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != res.Events {
		t.Errorf("log holds %d records, SeedHistory says %d", records, res.Events)
	}
	count := map[saga.Status]int{}
	for _, s := range states {
		count[s.Status]++
		if s.Status.Terminal() {
			continue
		}
		in := m.InFlight(s, now)
		if len(in) != 1 || in[0].Envelope.Type != events.VerifyUser {
			t.Fatalf("running saga %s awaits %v", s.SagaID, in)
		}
		if w := s.NextWake(); w.Before(now.Add(time.Hour)) {
			t.Fatalf("running saga %s wakes at %s, within the hour", s.SagaID, w)
		}
	}
	if count[saga.StatusRunning] != 50 || count[saga.StatusCompleted] != res.Completed ||
		count[saga.StatusCompensated] != res.Compensated || len(states) != res.EndedSagas+50 {
		t.Errorf("folded %d sagas: %v", len(states), count)
	}
}

// foldRecord is one saga log record as the orchestrator's recovery reads
// it: headers and value.
type foldRecord struct {
	headers map[string]string
	value   []byte
}

func historyRecords(b *testing.B, spec HistorySpec) []foldRecord {
	b.Helper()
	spec.setDefaults()
	defs, err := flows.AllWith(flows.Timings{StepTimeout: spec.StepTimeout,
		StepRetry: flows.DefaultTimings().StepRetry, CompensationRetry: flows.DefaultTimings().CompensationRetry})
	if err != nil {
		b.Fatal(err)
	}
	gen := historyGen{m: saga.NewMachine(defs), spec: spec}
	ended, _ := spec.endedSagas()
	var out []foldRecord
	for i := range ended + spec.Running {
		var evs []events.Envelope
		if i < ended {
			evs, err = gen.ended(i)
		} else {
			evs, err = gen.running(i - ended)
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range evs {
			pm, err := bus.Marshaler{}.Marshal("saga.events", bus.ToMessage(e))
			if err != nil {
				b.Fatal(err)
			}
			h := make(map[string]string, len(pm.Headers))
			for _, rh := range pm.Headers {
				h[string(rh.Key)] = string(rh.Value)
			}
			v, _ := pm.Value.Encode()
			out = append(out, foldRecord{headers: h, value: v})
		}
	}
	return out
}

// BenchmarkFoldHistory folds a history in process as the orchestrator's
// recovery does once it has the records: envelope from the headers,
// events.Check, Machine.Fold into a map by saga. FOLD_BENCH_EVENTS sets
// the events of ended sagas (100000 by default), with 10000 running sagas.
func BenchmarkFoldHistory(b *testing.B) {
	n := 100_000
	if v := os.Getenv("FOLD_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	recs := historyRecords(b, HistorySpec{Events: n, Running: 10_000})
	m := saga.NewMachine(flows.All())
	b.ReportAllocs()
	for b.Loop() {
		if err := foldHistory(m, recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(len(recs)), "ns/event")
	b.ReportMetric(float64(len(recs)), "events")
}

// foldHistory is the orchestrator's fold of its partitions, records read.
func foldHistory(m saga.Machine, recs []foldRecord) error {
	states := map[string]saga.State{}
	for _, r := range recs {
		e, err := events.FromHeaders("", r.headers, r.value)
		if err == nil {
			e, err = events.Check(e)
		}
		if err != nil {
			return err
		}
		next, _, err := m.Fold(states[e.SagaID], e)
		if err != nil {
			return err
		}
		states[e.SagaID] = next
	}
	return nil
}
