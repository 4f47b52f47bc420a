package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bench"
	"github.com/sagaflow/saga/bus"
)

func newBench(g *globals) *cobra.Command {
	var spec bench.SagaSpec
	var mix, chart, cpuProfile string
	var raw, replay bool
	var partitions int32
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure sagas/s, latency, CPU and memory, beside the raw limit of the same broker",
		Long: `Starts the system (and, without brokers, an embedded broker) as child processes in
a namespace of its own, drives book-ticket sagas through it, then moves as many
records of the same sizes through a raw sarama and watermill pipeline on the
same broker, and rebuilds the read models from the run's logs.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := bench.ParseMix(mix)
			if err != nil {
				return usageError{err}
			}
			spec.Mix = m
			if err := spec.Validate(); err != nil {
				return usageError{err}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			cfg := g.connection()
			cfg.Partitions = partitions
			if cfg.Namespace == "" {
				cfg.Namespace = "bench-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
			}
			dir := g.dataDir
			if !g.flags.Changed("data-dir") {
				if dir, err = os.MkdirTemp("", "saga-bench-"); err != nil {
					return err
				}
				defer os.RemoveAll(dir)
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
			rep, err := bench.Run(cmd.Context(), bench.Options{Exe: exe, Bus: cfg, DataDir: dir, Spec: spec, Raw: raw,
				Replay: replay, Chart: chart, CPUProfile: cpuProfile, Progress: func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "bench:", s) }})
			if err != nil {
				return err
			}
			if g.json() {
				return printJSON(rep)
			}
			rep.WriteText(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&spec.Sagas, "sagas", 10000, "book-ticket sagas to measure")
	f.Float64Var(&spec.Rate, "rate", 0, "sagas posted per second (0: as fast as possible)")
	f.StringVar(&mix, "mix", "completed=90,compensated=10", "outcome shares in percent: completed=N,compensated=M")
	f.IntVar(&spec.Warmup, "warmup", 200, "sagas run first and not measured")
	f.Int32Var(&partitions, "partitions", bus.DefaultPartitions, "partitions of each topic the run creates")
	f.IntVar(&spec.Shows, "shows", 16, "shows the bookings are spread over")
	f.DurationVar(&spec.Timeout, "timeout", 0, "how long to wait for the last saga after the last post (default 2m)")
	f.StringVar(&chart, "chart", "bench.png", "PNG chart of latency and throughput over time (empty: none)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write the system's Go CPU profile (warm-up and run) to this file")
	f.BoolVar(&raw, "raw", true, "also measure the raw producer-to-consumer pipeline of the same broker")
	f.BoolVar(&replay, "replay", true, "also rebuild the read models from the run's logs, beside a raw consume")
	return cmd
}
