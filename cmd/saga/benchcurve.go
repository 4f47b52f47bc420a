package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bench"
	"github.com/sagaflow/saga/bus"
)

func newBenchCurve(g *globals) *cobra.Command {
	var o bench.CurveOptions
	var rates, mix, systemExe string
	var partitions int32
	cmd := &cobra.Command{
		Use: "curve",
		Example: `  saga bench curve --chart curve.png --report curve.json
  saga bench curve --brokers localhost:9092 --rates 20,100,500,max --seconds-per-rate 5`,
		Short: "Latency against load: p50, p95 and p99 of sagas offered at each rate in turn, as a table and a chart",
		Long: `Starts the system (and, without brokers, an embedded broker) once, warms it up, then
offers book-ticket sagas at each rate in turn on the same system, each rate for
--seconds-per-rate (at least --min-sagas sagas) or --sagas-per-rate sagas, and
prints the latency of each rate. "max" posts as fast as possible, for twice the
sagas the fastest rate before it achieved in the same seconds.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Rates, err = bench.ParseRates(rates); err != nil {
				return usageError{err}
			}
			if o.Mix, err = bench.ParseMix(mix); err != nil {
				return usageError{err}
			}
			if o.Sagas < 0 || o.Seconds < 0 || o.MinSagas < 1 || o.Warmup < 0 {
				return usagef("--sagas-per-rate, --seconds-per-rate and --warmup must not be negative, --min-sagas at least 1")
			}
			if o.Sagas == 0 && o.Seconds == 0 {
				return usagef("give --seconds-per-rate or --sagas-per-rate")
			}
			if o.Chart != "" {
				if o.Chart, err = filepath.Abs(o.Chart); err != nil {
					return err
				}
			}
			env, err := g.prepareBench(partitions)
			if err != nil {
				return err
			}
			defer env.close()
			o.Exe, o.Bus, o.DataDir = env.exe, env.cfg, env.dir
			if systemExe != "" {
				o.Exe = systemExe
			}
			bar := g.newProgress(-1, "bench")
			defer bar.done()
			o.Progress = bar.phases(cmd.ErrOrStderr(), "bench curve:")
			cv, err := bench.RunCurve(cmd.Context(), o)
			bar.done()
			if err != nil {
				return err
			}
			if err := writeReport(reportFlag(cmd), cv); err != nil {
				return err
			}
			if g.json() {
				return printJSON(cv)
			}
			cv.WriteTable(cmd.OutOrStdout())
			if cv.Chart != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "\nchart    %s\n", cv.Chart)
			}
			return nil
		},
	}
	var def []string
	for _, r := range bench.DefaultRates {
		def = append(def, bench.RateLabel(r))
	}
	f := cmd.Flags()
	f.StringVar(&rates, "rates", strings.Join(def, ","), "offered rates in sagas/s, in the order run; max is as fast as possible")
	f.Float64Var(&o.Seconds, "seconds-per-rate", 10, "how long each rate offers sagas")
	f.IntVar(&o.Sagas, "sagas-per-rate", 0, "sagas of every rate (0: --seconds-per-rate of the rate)")
	f.IntVar(&o.MinSagas, "min-sagas", 300, "the fewest sagas a rate runs, so that its p99 is of something")
	f.IntVar(&o.Warmup, "warmup", 300, "sagas run first, as fast as possible, and not measured")
	f.StringVar(&mix, "mix", "completed=90,compensated=10", "outcome shares in percent: completed=N,compensated=M")
	f.Int32Var(&partitions, "partitions", bus.DefaultPartitions, "partitions of each topic the run creates")
	f.StringVar(&o.Chart, "chart", "curve.png", "PNG chart of p50, p95 and p99 against the offered rate (empty: none)")
	f.StringVar(&systemExe, "system-binary", "", "run the system (and embedded broker) from this saga binary, e.g. an older build to compare with")
	return cmd
}
