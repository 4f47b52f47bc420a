package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mix
		err  string
	}{
		{"completed=90,compensated=10", Mix{90, 10}, ""},
		{"compensated=25, completed=75", Mix{75, 25}, ""},
		{"completed=100,compensated=0", Mix{100, 0}, ""},
		{"completed=0,compensated=100", Mix{0, 100}, ""},
		{"completed=90", Mix{}, "add up to 90"},
		{"completed=60,compensated=60", Mix{}, "add up to 120"},
		{"completed=90,failed=10", Mix{}, `unknown outcome "failed"`},
		{"completed=-10,compensated=110", Mix{}, "want completed=N"},
		{"completed:90", Mix{}, "want completed=N"},
		{"", Mix{}, "want completed=N"},
	} {
		got, err := ParseMix(tc.in)
		if tc.err == "" && (err != nil || got != tc.want) {
			t.Errorf("ParseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseMix(%q) error = %v; want one saying %q", tc.in, err, tc.err)
		}
	}
}

// TestMixSpreadsDeclinedCards checks that every hundred sagas hold exactly
// the compensated share, spread out rather than bunched.
func TestMixSpreadsDeclinedCards(t *testing.T) {
	for _, share := range []int{0, 1, 10, 33, 50, 99, 100} {
		m := Mix{Completed: 100 - share, Compensated: share}
		for start := 0; start < 300; start += 100 {
			declined, run, longest := 0, 0, 0
			for i := start; i < start+100; i++ {
				if m.token(i) == demo.TokenDeclined {
					declined++
					run = 0
				} else if run++; run > longest {
					longest = run
				}
			}
			if declined != share {
				t.Errorf("share %d: sagas %d-%d have %d declined cards", share, start, start+99, declined)
			}
			if share > 0 && longest > 100/share+1 {
				t.Errorf("share %d: %d accepted cards in a row", share, longest)
			}
		}
	}
}

func TestSpecValidate(t *testing.T) {
	for _, s := range []SagaSpec{{Sagas: 0}, {Sagas: 10, Rate: -1}, {Sagas: 10, Warmup: -1}, {Sagas: 10, Shows: -2}} {
		if s.Validate() == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	if err := (SagaSpec{Sagas: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

// TestRun drives a small run end to end: the system and (without
// KAFKA_BROKERS) the broker as child processes, the raw pipelines, the
// replay and the chart. The record counts are exact: a completed booking
// writes 28 records (request, 12 saga events, 5 commands, 5 domain events,
// 5 replies) and one whose card is declined 23.
func TestRun(t *testing.T) {
	exe := recoveryBinary(t)
	// Without KAFKA_BROKERS the run starts its own broker, in a process of its own.
	cfg := signed(t, bus.Config{Namespace: bustest.Namespace()})
	if os.Getenv(bustest.EnvBrokers) != "" {
		cfg = signed(t, bustest.Start(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	chart := filepath.Join(dir, "run.png")
	rep, err := Run(ctx, Options{Exe: exe, Bus: cfg, DataDir: dir, Chart: chart, Raw: true, Replay: true,
		Spec: SagaSpec{Sagas: 100, Warmup: 10, Shows: 4, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcomes[string(events.SagaCompleted)] != 90 || rep.Outcomes[string(events.SagaCompensated)] != 10 {
		t.Errorf("outcomes %v, want 90 completed and 10 compensated", rep.Outcomes)
	}
	if rep.Records != 90*28+10*23 || rep.RecordsBy[events.TopicSagaLog] != 90*12+10*10 {
		t.Errorf("records %d (saga log %d), want %d (%d)", rep.Records, rep.RecordsBy[events.TopicSagaLog], 90*28+10*23, 90*12+10*10)
	}
	if rep.SagasPerSec <= 0 || rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("rates and latency out of order: %.1f sagas/s, %+v", rep.SagasPerSec, rep.Latency)
	}
	for _, step := range []string{"VerifyUser", "ReserveSeats", "ChargePayment", "ConfirmBooking", "SendNotification", "ReserveSeats (undo)"} {
		if l, ok := rep.Steps[step]; !ok || l.P50 <= 0 || l.P50 > rep.Latency.Max {
			t.Errorf("step %s latency %+v (saga max %.1f)", step, l, rep.Latency.Max)
		}
	}
	if len(rep.Raw) != 2 || rep.Raw[0].Records != int(rep.Records) || rep.RawRecordsPerSec <= 0 ||
		rep.SagaToRaw != rep.RecordsPerSec/rep.RawRecordsPerSec {
		t.Errorf("raw %+v, ratio %.3f", rep.Raw, rep.SagaToRaw)
	}
	if rep.Replay == nil || rep.Replay.Events < rep.Records/2 || rep.Replay.EventsPerSec <= 0 || rep.Replay.RebuildToRaw <= 0 {
		t.Errorf("replay %+v", rep.Replay)
	}
	if len(rep.Processes) < 2 || rep.Processes[0].Name != "system" || rep.Processes[0].CPUSeconds <= 0 || rep.Processes[0].PeakRSS <= 0 {
		t.Errorf("processes %+v", rep.Processes)
	}
	if fi, err := os.Stat(chart); err != nil || fi.Size() == 0 {
		t.Errorf("chart: %v", err)
	}
	var fields map[string]any
	raw, _ := json.Marshal(rep)
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sagas_per_sec", "records_per_sec", "latency_ms", "raw_records_per_sec", "saga_to_raw_ratio"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON report has no %q: %s", k, raw)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"sagas/s", "latency ms", "saga/raw", "replay", "process system"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report has no %q:\n%s", want, text.String())
		}
	}
}

// TestObserverWaitsForEverySaga feeds the observer sagas that end one by
// one as they are posted, as at a slow rate: done closes at the last end,
// not at the first moment every saga posted so far has ended.
func TestObserverWaitsForEverySaga(t *testing.T) {
	o := newObserver(3)
	for i, id := range []string{"a", "b", "c"} {
		o.track(id, time.Now())
		o.record(&sarama.ConsumerMessage{Headers: []*sarama.RecordHeader{
			{Key: []byte(events.HeaderType), Value: []byte(events.SagaCompleted)},
			{Key: []byte(events.HeaderSagaID), Value: []byte(id)},
		}}, time.Now())
		select {
		case <-o.done:
			if i < 2 {
				t.Fatalf("done after %d of 3 sagas", i+1)
			}
		default:
			if i == 2 {
				t.Fatal("not done after the third saga ended")
			}
		}
	}
}

// TestRunWithTelemetry runs a small bench with metrics and tracing on:
// the system exports its spans to the run's receiver and answers its
// scrapes, and the sagas' records are those of a run without them.
func TestRunWithTelemetry(t *testing.T) {
	exe := recoveryBinary(t)
	cfg := signed(t, bus.Config{Namespace: bustest.Namespace()})
	if os.Getenv(bustest.EnvBrokers) != "" {
		cfg = signed(t, bustest.Start(t))
	}
	scrapeEvery = 200 * time.Millisecond
	t.Cleanup(func() { scrapeEvery = 15 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Exe: exe, Bus: cfg, DataDir: t.TempDir(), Telemetry: true,
		Spec: SagaSpec{Sagas: 50, Warmup: 5, Shows: 4, Timeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Outcomes[string(events.SagaCompleted)] != 45 || rep.Records != 45*28+5*23 {
		t.Errorf("outcomes %v, %d records", rep.Outcomes, rep.Records)
	}
	tel := rep.Telemetry
	if tel == nil || tel.TraceExports == 0 || tel.TraceBytes == 0 || tel.MetricsScrapes == 0 || tel.MetricsBytesLast == 0 {
		t.Fatalf("telemetry %+v: the system exported no spans or answered no scrape", tel)
	}
}
