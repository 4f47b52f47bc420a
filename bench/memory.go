package bench

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/bus"
)

// Memory is what an orchestrator holds, once recovered, for the sagas it
// owns: running sagas are kept whole, ended ones should cost little.
type Memory struct {
	// RunningSagas are seeded running in one namespace, EndedSagas ended
	// (EndedEvents events) in another; a third is empty: the baseline.
	RunningSagas int `json:"running_sagas"`
	EndedSagas   int `json:"ended_sagas"`
	EndedEvents  int `json:"ended_events"`
	// SettleMS is how long after its recovery (and, with AfterGC, after the
	// first collection that follows it) each process is measured.
	SettleMS float64 `json:"settle_ms"`
	AfterGC  bool    `json:"after_gc"`

	Baseline MemoryPoint `json:"baseline"`
	Running  MemoryPoint `json:"running"`
	Ended    MemoryPoint `json:"ended"`

	// BytesPerRunning is (running RSS - baseline RSS) / running sagas;
	// BytesPerEnded the same for the ended sagas.
	BytesPerRunning float64 `json:"bytes_per_running_saga"`
	BytesPerEnded   float64 `json:"bytes_per_ended_saga"`
	// HeapPerRunning and HeapPerEnded use the live heap after the last
	// garbage collection instead of the RSS (whole MB: rough for small
	// counts). Without AfterGC that collection may be one during the
	// recovery, when the folded history is still live.
	HeapPerRunning float64 `json:"heap_bytes_per_running_saga"`
	HeapPerEnded   float64 `json:"heap_bytes_per_ended_saga"`
}

// MemoryPoint is one orchestrator process measured after its recovery.
type MemoryPoint struct {
	Namespace string `json:"namespace"`
	// RecoveredRunning and RecoveredEnded are the counts it logged.
	RecoveredRunning int     `json:"recovered_running"`
	RecoveredEnded   int     `json:"recovered_ended"`
	FoldMS           float64 `json:"fold_ms"`
	// MeasuredMS is when it was measured, from its start.
	MeasuredMS   float64 `json:"measured_ms"`
	RSSBytes     int64   `json:"rss_bytes"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// HeapLiveBytes is the live heap after the last garbage collection
	// before the measurement, HeapPeakBytes the largest after any (from
	// GODEBUG=gctrace=1, in whole MB). GCs counts the collections.
	HeapLiveBytes int64 `json:"heap_live_bytes"`
	HeapPeakBytes int64 `json:"heap_peak_bytes"`
	GCs           int   `json:"gcs"`
}

// MemoryOptions tune MeasureMemoryWith.
type MemoryOptions struct {
	// Settle is how long a recovered orchestrator runs before it is
	// measured; 2s when zero.
	Settle time.Duration
	// AfterGC waits, before settling, for the first garbage collection
	// after the recovery (an idle Go process is collected at least every
	// two minutes), so that the heap measured is what the process keeps,
	// not the history it folded.
	AfterGC bool
}

// MeasureMemory is MeasureMemoryWith with the default options: each
// process is measured 2s after its recovery.
func MeasureMemory(ctx context.Context, cfg bus.Config, exe string, running int) (Memory, error) {
	return MeasureMemoryWith(ctx, cfg, exe, running, MemoryOptions{})
}

// MeasureMemoryWith measures three orchestrators after their recovery: one
// with nothing to recover, one with running sagas running and one with as
// many ended sagas. Their namespaces are cfg's with ".mem-base",
// ".mem-running" and ".mem-ended" appended; the last two are seeded here.
func MeasureMemoryWith(ctx context.Context, cfg bus.Config, exe string, running int, opts MemoryOptions) (Memory, error) {
	if opts.Settle <= 0 {
		opts.Settle = 2 * time.Second
	}
	m := Memory{RunningSagas: running, EndedSagas: running, EndedEvents: EndedEvents(running),
		SettleMS: float64(opts.Settle) / float64(time.Millisecond), AfterGC: opts.AfterGC}
	ns := func(suffix string) bus.Config {
		c := cfg
		c.Namespace = strings.TrimPrefix(cfg.Namespace+".mem-"+suffix, ".")
		return c
	}
	base, run, ended := ns("base"), ns("running"), ns("ended")
	if _, err := SeedHistory(ctx, run, HistorySpec{Running: running}); err != nil {
		return m, err
	}
	if _, err := SeedHistory(ctx, ended, HistorySpec{Events: m.EndedEvents}); err != nil {
		return m, err
	}
	var err error
	if m.Baseline, err = memoryPoint(ctx, base, exe, opts); err != nil {
		return m, err
	}
	if m.Running, err = memoryPoint(ctx, run, exe, opts); err != nil {
		return m, err
	}
	if m.Ended, err = memoryPoint(ctx, ended, exe, opts); err != nil {
		return m, err
	}
	if running > 0 {
		n := float64(running)
		m.BytesPerRunning = float64(m.Running.RSSBytes-m.Baseline.RSSBytes) / n
		m.BytesPerEnded = float64(m.Ended.RSSBytes-m.Baseline.RSSBytes) / n
		m.HeapPerRunning = float64(m.Running.HeapLiveBytes-m.Baseline.HeapLiveBytes) / n
		m.HeapPerEnded = float64(m.Ended.HeapLiveBytes-m.Baseline.HeapLiveBytes) / n
	}
	return m, nil
}

// memoryPoint runs an orchestrator on cfg's namespace until it has
// recovered and settled, and reads its memory.
func memoryPoint(ctx context.Context, cfg bus.Config, exe string, opts MemoryOptions) (MemoryPoint, error) {
	pt := MemoryPoint{Namespace: cfg.Namespace}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	began := time.Now()
	proc, err := StartProc("orchestrator", exe, orchestratorArgs(cfg), append(procEnv(cfg), "GODEBUG=gctrace=1"))
	if err != nil {
		return pt, err
	}
	defer proc.Stop(15 * time.Second)
	// The output is polled often: the GC trace may push older lines out of
	// the tail the process keeps, so collections are counted as they come.
	var line recoveredLine
	var haveLine bool
	gcAtRecovery := -1
	var settled <-chan time.Time
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		gc := gcHeap(proc.Output())
		if gc.n > 0 {
			pt.GCs, pt.HeapLiveBytes, pt.HeapPeakBytes = max(pt.GCs, gc.n), gc.last, max(pt.HeapPeakBytes, gc.peak)
		}
		if !haveLine {
			if line, haveLine = findRecovered(proc.Output()); haveLine {
				gcAtRecovery = pt.GCs
			}
		}
		if haveLine && settled == nil && (!opts.AfterGC || pt.GCs > gcAtRecovery) {
			settled = time.After(opts.Settle)
		}
		select {
		case <-settled:
			u, err := proc.Usage()
			if err != nil {
				return pt, err
			}
			pt.MeasuredMS = float64(time.Since(began)) / float64(time.Millisecond)
			pt.RSSBytes, pt.PeakRSSBytes = u.RSS, u.PeakRSS
			pt.RecoveredRunning, pt.RecoveredEnded, pt.FoldMS = line.Running, line.Ended, line.Took
			if gc := gcHeap(proc.Output()); gc.n > 0 {
				pt.GCs, pt.HeapLiveBytes, pt.HeapPeakBytes = max(pt.GCs, gc.n), gc.last, max(pt.HeapPeakBytes, gc.peak)
			}
			return pt, nil
		case <-ctx.Done():
			return pt, fmt.Errorf("bench: orchestrator on %s did not recover and settle: %w\n%s", cfg.Namespace, ctx.Err(), proc.Output())
		case <-tick.C:
			if exited, err := proc.Exited(); exited {
				return pt, fmt.Errorf("bench: orchestrator on %s exited (%v)\n%s", cfg.Namespace, err, proc.Output())
			}
		}
	}
}

// gcTrace matches a GODEBUG=gctrace=1 line: its number, and the heap at
// the start of the cycle, at its end, and marked live.
var gcTrace = regexp.MustCompile(`(?m)^gc (\d+) @.* (\d+)->(\d+)->(\d+) MB`)

type gcSeen struct {
	// n is the number of the last collection; last its live heap, peak
	// the largest live heap among the collections in the output.
	n          int
	last, peak int64
}

// logLine matches one JSON log line, wherever it starts: the runtime
// writes a GC trace line in pieces, and a log line written between two of
// them splits it. Cutting the log lines out joins the pieces again.
var logLine = regexp.MustCompile(`\{"level":[^\n]*\n`)

func gcHeap(out string) gcSeen {
	var g gcSeen
	for _, m := range gcTrace.FindAllStringSubmatch(logLine.ReplaceAllString(out, ""), -1) {
		n, err1 := strconv.Atoi(m[1])
		mb, err2 := strconv.ParseInt(m[4], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		g.n, g.last = n, mb<<20
		g.peak = max(g.peak, g.last)
	}
	return g
}
