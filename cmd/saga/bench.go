package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bench"
	"github.com/sagaflow/saga/bus"
)

func newBench(g *globals) *cobra.Command {
	var spec bench.SagaSpec
	var mix, chart, cpuProfile, report, systemExe, via string
	var raw, replay bool
	var partitions int32
	var rounds, telRounds int
	var withTelemetry bool
	cmd := &cobra.Command{
		Use: "bench",
		Example: `  saga bench --sagas 2000 --rate 500
  saga bench --brokers localhost:9092 --mix completed=90,compensated=10 --report bench.json --chart bench.png`,
		Short: "Measure sagas/s, latency, CPU and memory, beside the raw limit of the same broker",
		Long: `Starts the system (and, without brokers, an embedded broker) as child processes in
a namespace of its own, drives book-ticket sagas through it, then moves as many
records of the same sizes through a raw sarama and watermill pipeline on the
same broker, and rebuilds the read models from the run's logs.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if via != "kafka" && via != "http" {
				return usagef("--via must be kafka or http, got %q", via)
			}
			m, err := bench.ParseMix(mix)
			if err != nil {
				return usageError{err}
			}
			spec.Mix = m
			if err := spec.Validate(); err != nil {
				return usageError{err}
			}
			env, err := g.prepareBench(partitions)
			if err != nil {
				return err
			}
			defer env.close()
			exe, cfg, dir := env.exe, env.cfg, env.dir
			if systemExe != "" {
				exe = systemExe
			}
			if cpuProfile != "" {
				if cpuProfile, err = filepath.Abs(cpuProfile); err != nil {
					return err
				}
			}
			if chart != "" {
				if chart, err = filepath.Abs(chart); err != nil {
					return err
				}
			}
			bar := g.newProgress(-1, "bench")
			defer bar.done()
			if via == "http" {
				rep, err := bench.RunHTTP(cmd.Context(), bench.Options{Exe: exe, Bus: cfg, DataDir: dir, Spec: spec, CPUProfile: cpuProfile,
					Progress: bar.phases(cmd.ErrOrStderr(), "bench:")})
				bar.done()
				if err != nil {
					return err
				}
				if err := writeReport(report, rep); err != nil {
					return err
				}
				if g.json() {
					return printJSON(rep)
				}
				rep.WriteText(cmd.OutOrStdout())
				return nil
			}
			opts := bench.Options{Exe: exe, Bus: cfg, DataDir: dir, Spec: spec, Raw: raw, Telemetry: withTelemetry,
				Replay: replay, Chart: chart, CPUProfile: cpuProfile, Progress: bar.phases(cmd.ErrOrStderr(), "bench:")}
			if rounds > 0 && telRounds > 0 {
				return usagef("--signatures-cost and --telemetry-cost are two runs: give one of them")
			}
			if rounds > 0 || telRounds > 0 {
				feature := signatures
				if telRounds > 0 {
					feature, rounds = telemetry, telRounds
				} else if !g.signatures {
					return usagef("--signatures-cost compares signatures on and off: leave --signatures on")
				}
				res, err := runCost(cmd.Context(), opts, feature, rounds, opts.Progress)
				bar.done()
				if err != nil {
					return err
				}
				if err := writeReport(report, res); err != nil {
					return err
				}
				if g.json() {
					return printJSON(res)
				}
				res.WriteText(cmd.OutOrStdout())
				return nil
			}
			rep, err := bench.Run(cmd.Context(), opts)
			bar.done()
			if err != nil {
				return err
			}
			if err := writeReport(report, rep); err != nil {
				return err
			}
			if g.json() {
				return printJSON(rep)
			}
			rep.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.AddCommand(newBenchRecovery(g), newBenchMemory(g), newBenchCurve(g))
	cmd.PersistentFlags().StringVar(&report, "report", "", "also write the JSON report to this file")
	f := cmd.Flags()
	f.IntVar(&spec.Sagas, "sagas", 10000, "book-ticket sagas to measure")
	f.StringVar(&via, "via", "kafka", "post the bookings straight to Kafka, or http: the same run straight to Kafka, then through the HTTP API answered at once and at the saga's end, side by side")
	f.Float64Var(&spec.Rate, "rate", 0, "sagas posted per second (0: as fast as possible)")
	f.StringVar(&mix, "mix", "completed=90,compensated=10", "outcome shares in percent: completed=N,compensated=M")
	f.IntVar(&spec.Warmup, "warmup", 200, "sagas run first and not measured")
	f.Int32Var(&partitions, "partitions", bus.DefaultPartitions, "partitions of each topic the run creates")
	f.IntVar(&spec.Shows, "shows", 16, "shows the bookings are spread over")
	f.DurationVar(&spec.Timeout, "timeout", 0, "how long to wait for the last saga after the last post (default 2m)")
	f.StringVar(&chart, "chart", "bench.png", "PNG chart of latency and throughput over time (empty: none)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the system's Go CPU profile (warm-up and run) to this file")
	f.StringVar(&systemExe, "system-binary", "", "run the system (and embedded broker) from this saga binary, e.g. an older build to compare with")
	f.BoolVar(&raw, "raw", true, "also measure the raw producer-to-consumer pipeline of the same broker")
	f.BoolVar(&replay, "replay", true, "also rebuild the read models from the run's logs, beside a raw consume")
	f.IntVar(&rounds, "signatures-cost", 0, "run `N` rounds of the same run with signatures on and then off, each on a system of its own, and print the medians side by side")
	f.BoolVar(&withTelemetry, "telemetry", false, "run the system with metrics (scraped every 15 s) and tracing (exported over OTLP to the bench) on")
	f.IntVar(&telRounds, "telemetry-cost", 0, "the same with metrics (scraped every 15 s) and tracing (exported over OTLP to the bench) on and then off")
	return cmd
}

// benchEnv is what the recovery and memory benchmarks need: the saga
// binary, and a broker (the configured one, else an embedded broker in a
// child process, so that its memory is not counted as the orchestrator's).
type benchEnv struct {
	exe     string
	cfg     bus.Config
	dir     string
	broker  string
	cleanup []func()
}

// prepareBench resolves what every benchmark needs: the saga binary, the
// connection with a namespace of the run's own, and a data directory (a
// temporary one unless --data-dir was given).
func (g *globals) prepareBench(partitions int32) (*benchEnv, error) {
	e := &benchEnv{}
	var err error
	if e.exe, err = os.Executable(); err != nil {
		return nil, err
	}
	e.cfg = g.connection()
	e.cfg.Partitions = partitions
	if e.cfg.Namespace == "" {
		e.cfg.Namespace = "bench-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	}
	if g.signatures {
		if e.cfg, err = bench.Signed(e.cfg); err != nil {
			return nil, err
		}
	}
	e.broker = "Kafka at " + strings.Join(e.cfg.Brokers, ",")
	e.dir = g.dataDir
	if !g.flags.Changed("data-dir") {
		if e.dir, err = os.MkdirTemp("", "saga-bench-"); err != nil {
			return nil, err
		}
		dir := e.dir
		e.cleanup = append(e.cleanup, func() { os.RemoveAll(dir) })
	}
	return e, nil
}

// benchEnv is prepareBench with a broker: the configured one, else an
// embedded broker in a child process.
func (g *globals) benchEnv(cmd *cobra.Command, partitions int32) (*benchEnv, error) {
	e, err := g.prepareBench(partitions)
	if err != nil || len(e.cfg.Brokers) > 0 {
		return e, err
	}
	fmt.Fprintln(cmd.ErrOrStderr(), "bench: starting an embedded broker in a process of its own")
	b, brokers, err := bench.StartBroker(cmd.Context(), e.exe, e.cfg, e.dir, []string{"SAGA_NAMESPACE=" + e.cfg.Namespace})
	if err != nil {
		e.close()
		return nil, err
	}
	e.cleanup = append(e.cleanup, func() { b.Stop(10 * time.Second) })
	e.cfg.Brokers, e.broker = brokers, "embedded (kfake, own process, data on disk)"
	return e, nil
}

func (e *benchEnv) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// writeReport writes v as indented JSON to path, unless path is empty.
func writeReport(path string, v any) error {
	if path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}

func reportFlag(cmd *cobra.Command) string {
	v, _ := cmd.Flags().GetString("report")
	return v
}

func newBenchRecovery(g *globals) *cobra.Command {
	var events, running int
	var partitions int32
	cmd := &cobra.Command{
		Use:     "recovery",
		Example: `  saga bench recovery --events 100000 --running 1000`,
		Short:   "Time an orchestrator's start to its first decision over a saga log of the given history",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if events < 0 || running < 0 {
				return usageError{fmt.Errorf("--events and --running must not be negative")}
			}
			env, err := g.benchEnv(cmd, partitions)
			if err != nil {
				return err
			}
			defer env.close()
			ctx := cmd.Context()
			fmt.Fprintf(cmd.ErrOrStderr(), "bench: writing %d events of ended sagas and %d running sagas\n", events, running)
			h, err := bench.SeedHistory(ctx, env.cfg, bench.HistorySpec{Events: events, Running: running})
			if err != nil {
				return err
			}
			// The first start folds the seeded log whole (nothing wrote a
			// snapshot of it) and snapshots what it folded; a restart
			// loads those snapshots and folds only what came after.
			fmt.Fprintln(cmd.ErrOrStderr(), "bench: starting an orchestrator on it")
			r, err := bench.MeasureRecovery(ctx, env.cfg, env.exe, bench.RecoveryOptions{})
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Second) // the broker settles the stopped member's snapshot writes
			fmt.Fprintln(cmd.ErrOrStderr(), "bench: restarting it")
			again, err := bench.MeasureRecovery(ctx, env.cfg, env.exe, bench.RecoveryOptions{})
			if err != nil {
				return err
			}
			out := struct {
				Broker   string              `json:"broker"`
				Machine  bench.Machine       `json:"machine"`
				History  bench.HistoryResult `json:"history"`
				Recovery bench.Recovery      `json:"recovery"`
				Restart  bench.Recovery      `json:"restart"`
			}{env.broker, bench.ThisMachine(), h, r, again}
			if err := writeReport(reportFlag(cmd), out); err != nil {
				return err
			}
			if g.json() {
				return printJSON(out)
			}
			fmt.Printf("broker              %s\n", env.broker)
			fmt.Printf("history             %d saga log events (%d ended sagas, %d running)\n", r.HistoryEvents, r.EndedSagas, r.RunningSagas)
			for _, x := range []struct {
				name string
				r    bench.Recovery
			}{{"first start", r}, {"restart", again}} {
				fmt.Printf("%-19s %.0f ms to the first decision (recovery took %.0f ms), cpu %.0f ms, peak rss %.0f MiB   (target <= 1000 ms with 1M events)\n",
					x.name, x.r.ToFirstDecisionMS, x.r.FoldMS, x.r.CPUMS, float64(x.r.PeakRSSBytes)/(1<<20))
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&events, "events", 1_000_000, "saga log events of ended sagas to recover")
	cmd.Flags().IntVar(&running, "running", 10_000, "sagas still running to recover")
	cmd.Flags().Int32Var(&partitions, "partitions", bus.DefaultPartitions, "partitions of each topic the run creates")
	return cmd
}

func newBenchMemory(g *globals) *cobra.Command {
	var running int
	var partitions int32
	cmd := &cobra.Command{
		Use:     "memory",
		Example: `  saga bench memory --running 10000`,
		Short:   "Measure an orchestrator's memory per running saga, and per ended saga",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if running < 1 {
				return usageError{fmt.Errorf("--running must be at least 1, got %d", running)}
			}
			env, err := g.benchEnv(cmd, partitions)
			if err != nil {
				return err
			}
			defer env.close()
			fmt.Fprintf(cmd.ErrOrStderr(), "bench: three orchestrators: none, %d running and %d ended sagas\n", running, running)
			m, err := bench.MeasureMemoryWith(cmd.Context(), env.cfg, env.exe, running, bench.MemoryOptions{Settle: 5 * time.Second})
			if err != nil {
				return err
			}
			out := struct {
				Broker  string        `json:"broker"`
				Machine bench.Machine `json:"machine"`
				Memory  bench.Memory  `json:"memory"`
			}{env.broker, bench.ThisMachine(), m}
			if err := writeReport(reportFlag(cmd), out); err != nil {
				return err
			}
			if g.json() {
				return printJSON(out)
			}
			fmt.Printf("broker                 %s\n", env.broker)
			fmt.Printf("rss, nothing to hold   %.1f MiB\n", float64(m.Baseline.RSSBytes)/(1<<20))
			fmt.Printf("rss, %d running     %.1f MiB: %.0f bytes a running saga   (target <= 2048)\n", running, float64(m.Running.RSSBytes)/(1<<20), m.BytesPerRunning)
			fmt.Printf("rss, %d ended       %.1f MiB: %.0f bytes an ended saga\n", running, float64(m.Ended.RSSBytes)/(1<<20), m.BytesPerEnded)
			return nil
		},
	}
	cmd.Flags().IntVar(&running, "running", 100_000, "sagas running at once")
	cmd.Flags().Int32Var(&partitions, "partitions", bus.DefaultPartitions, "partitions of each topic the run creates")
	return cmd
}
