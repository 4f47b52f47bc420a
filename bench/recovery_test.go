package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus/bustest"
)

var recoveryBin struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// recoveryBinary builds the saga binary once per test binary. It goes to
// the same place every run (renamed into place, so a running copy is not
// disturbed) instead of a new temporary directory that nothing removes.
func recoveryBinary(t testing.TB) string {
	t.Helper()
	recoveryBin.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		dir := filepath.Join(os.TempDir(), "sagaflow-bench-recovery")
		if recoveryBin.err = os.MkdirAll(dir, 0o755); recoveryBin.err != nil {
			return
		}
		tmp := filepath.Join(dir, "saga."+strconv.Itoa(os.Getpid()))
		build := exec.Command("go", "build", "-o", tmp, "./cmd/saga")
		build.Dir = root
		if recoveryBin.out, recoveryBin.err = build.CombinedOutput(); recoveryBin.err != nil {
			return
		}
		recoveryBin.path = filepath.Join(dir, "saga")
		recoveryBin.err = os.Rename(tmp, recoveryBin.path)
	})
	if recoveryBin.err != nil {
		t.Fatalf("go build ./cmd/saga: %v\n%s", recoveryBin.err, recoveryBin.out)
	}
	return recoveryBin.path
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestMeasureRecovery starts an orchestrator on a small history: it
// recovers the running and ended sagas, re-sends the running ones'
// commands, and decides on the request posted before it started.
func TestMeasureRecovery(t *testing.T) {
	exe := recoveryBinary(t)
	cfg := signed(t, bustest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := SeedHistory(ctx, cfg, HistorySpec{Events: 2000, Running: 50})
	if err != nil {
		t.Fatal(err)
	}
	r, err := MeasureRecovery(ctx, cfg, exe, RecoveryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovery %s", asJSON(r))
	if r.ToFirstDecisionMS <= 0 || r.DecidedMS <= 0 || r.RecoveredMS <= 0 || r.FoldMS <= 0 || r.FreshSagaID == "" {
		t.Errorf("times not measured: %+v", r)
	}
	if r.RunningSagas != 50 || r.EndedSagas != h.EndedSagas || r.HistoryEvents != int64(h.Events) {
		t.Errorf("recovered %d running and %d ended sagas of %d events, want 50 and %d of %d",
			r.RunningSagas, r.EndedSagas, r.HistoryEvents, h.EndedSagas, h.Events)
	}
	if r.ResentCommands != 50 {
		t.Errorf("%d commands re-sent, want one per running saga (50)", r.ResentCommands)
	}
	if r.RSSBytes <= 0 || r.PeakRSSBytes < r.RSSBytes || r.CPUMS <= 0 {
		t.Errorf("usage not measured: rss %d peak %d cpu %.0fms", r.RSSBytes, r.PeakRSSBytes, r.CPUMS)
	}
}

// TestMeasureMemory measures orchestrators holding nothing, 2000 running
// sagas, and 2000 ended ones.
func TestMeasureMemory(t *testing.T) {
	exe := recoveryBinary(t)
	cfg := signed(t, bustest.Start(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := MeasureMemory(ctx, cfg, exe, 2000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("memory %s", asJSON(m))
	for name, p := range map[string]MemoryPoint{"baseline": m.Baseline, "running": m.Running, "ended": m.Ended} {
		if p.RSSBytes <= 0 || p.PeakRSSBytes < p.RSSBytes {
			t.Errorf("%s: rss %d, peak %d", name, p.RSSBytes, p.PeakRSSBytes)
		}
	}
	// The orchestrator seeds the demo shows: a few sagas of its own.
	if m.Running.RecoveredRunning != 2000 || m.Ended.RecoveredEnded != 2000 || m.Ended.RecoveredRunning != 0 {
		t.Errorf("recovered %d running, and %d ended + %d running", m.Running.RecoveredRunning, m.Ended.RecoveredEnded, m.Ended.RecoveredRunning)
	}
	if m.BytesPerRunning <= 0 {
		t.Errorf("%.0f bytes per running saga", m.BytesPerRunning)
	}
}

// TestRecoveryBench measures recovery and memory at scale, on the cluster
// named by KAFKA_BROKERS (run the embedded broker as a process of its own:
// `saga broker`), when RECOVERY_BENCH=1. RECOVERY_BENCH_EVENTS (comma
// separated, default 100000,1000000; 0 skips), RECOVERY_BENCH_RUNNING (10000),
// RECOVERY_BENCH_MEMORY (running sagas, 100000; 0 skips) and
// RECOVERY_BENCH_REPEAT (3) size it; the memory is read
// RECOVERY_BENCH_SETTLE (2s) after the first garbage collection that
// follows the recovery (RECOVERY_BENCH_AFTER_GC=0: after the recovery).
// Figures are logged as JSON.
func TestRecoveryBench(t *testing.T) {
	if os.Getenv("RECOVERY_BENCH") != "1" {
		t.Skip("RECOVERY_BENCH=1 runs it")
	}
	exe := recoveryBinary(t)
	envInt := func(name string, def int) int {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return n
		}
		return def
	}
	sizes := []int{100_000, 1_000_000}
	if v := os.Getenv("RECOVERY_BENCH_EVENTS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "" || f == "0" {
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("RECOVERY_BENCH_EVENTS: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	running, memRunning, repeat := envInt("RECOVERY_BENCH_RUNNING", 10_000), envInt("RECOVERY_BENCH_MEMORY", 100_000), envInt("RECOVERY_BENCH_REPEAT", 3)
	ctx := context.Background()
	for _, n := range sizes {
		cfg := signed(t, bustest.Start(t))
		h, err := SeedHistory(ctx, cfg, HistorySpec{Events: n, Running: running})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("history %s", asJSON(h))
		var runs []Recovery
		for range repeat {
			r, err := MeasureRecovery(ctx, cfg, exe, RecoveryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("recovery %s", asJSON(r))
			runs = append(runs, r)
		}
		med := func(f func(Recovery) float64) float64 {
			xs := make([]float64, len(runs))
			for i, r := range runs {
				xs[i] = f(r)
			}
			slices.Sort(xs)
			return xs[len(xs)/2]
		}
		t.Logf("median of %d: events %d running %d: to_first_decision_ms %.0f decided_ms %.0f assigned_ms %.0f fold_ms %.0f resend_ms %.0f peak_rss_bytes %.0f cpu_ms %.0f",
			len(runs), h.Events, running, med(func(r Recovery) float64 { return r.ToFirstDecisionMS }), med(func(r Recovery) float64 { return r.DecidedMS }),
			med(func(r Recovery) float64 { return r.AssignedMS }), med(func(r Recovery) float64 { return r.FoldMS }),
			med(func(r Recovery) float64 { return r.ResendMS }), med(func(r Recovery) float64 { return float64(r.PeakRSSBytes) }),
			med(func(r Recovery) float64 { return r.CPUMS }))
	}
	if memRunning > 0 {
		cfg := signed(t, bustest.Start(t))
		settle, err := time.ParseDuration(cmp.Or(os.Getenv("RECOVERY_BENCH_SETTLE"), "2s"))
		if err != nil {
			t.Fatalf("RECOVERY_BENCH_SETTLE: %v", err)
		}
		opts := MemoryOptions{Settle: settle, AfterGC: envInt("RECOVERY_BENCH_AFTER_GC", 1) == 1}
		m, err := MeasureMemoryWith(ctx, cfg, exe, memRunning, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("memory %s", asJSON(m))
	}
}
