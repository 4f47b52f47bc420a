package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"

	"github.com/sagaflow/saga/bench"
)

// featureCost is `saga bench --signatures-cost` and `--telemetry-cost`:
// the same run with a feature on and off, alternately, rounds times each,
// every run on a namespace (and system) of its own; the medians and their
// ratios say what the feature costs on this machine.
type featureCost struct {
	Feature string         `json:"feature"`
	Rounds  int            `json:"rounds"`
	On      []bench.Report `json:"on"`
	Off     []bench.Report `json:"off"`
}

// Features a cost run switches, and how.
var (
	signatures = costFeature{"signatures", func(o *bench.Options, on bool) {
		if !on {
			o.Bus.Trust, o.Bus.Signer = nil, nil
		}
	}}
	telemetry = costFeature{"metrics and tracing", func(o *bench.Options, on bool) { o.Telemetry = on }}
)

type costFeature struct {
	name string
	set  func(o *bench.Options, on bool)
}

func runCost(ctx context.Context, o bench.Options, f costFeature, rounds int, progress func(string)) (featureCost, error) {
	res := featureCost{Feature: f.name, Rounds: rounds}
	ns := o.Bus.Namespace
	for i := range rounds {
		for _, on := range []bool{true, false} {
			run := o
			run.Bus.Namespace = ns + "-" + map[bool]string{true: "on", false: "off"}[on] + strconv.Itoa(i+1)
			run.Chart = ""
			f.set(&run, on)
			progress(fmt.Sprintf("round %d of %d, %s %s", i+1, rounds, f.name, map[bool]string{true: "on", false: "off"}[on]))
			rep, err := bench.Run(ctx, run)
			if err != nil {
				return res, err
			}
			if on {
				res.On = append(res.On, rep)
			} else {
				res.Off = append(res.Off, rep)
			}
		}
	}
	return res, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (c featureCost) column(pick func(bench.Report) float64) (on, off float64) {
	var a, b []float64
	for _, r := range c.On {
		a = append(a, pick(r))
	}
	for _, r := range c.Off {
		b = append(b, pick(r))
	}
	return median(a), median(b)
}

// WriteText prints the medians with the feature on and off and their ratio.
func (c featureCost) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "median of %d runs each\t%s on\t%s off\ton/off\n", c.Rounds, c.Feature, c.Feature)
	rows := []struct {
		name string
		pick func(bench.Report) float64
	}{
		{"sagas/s", func(r bench.Report) float64 { return r.SagasPerSec }},
		{"latency p50 ms", func(r bench.Report) float64 { return r.Latency.P50 }},
		{"latency p99 ms", func(r bench.Report) float64 { return r.Latency.P99 }},
		{"system CPU ms a saga", func(r bench.Report) float64 {
			for _, p := range r.Processes {
				if p.Name == "system" {
					return p.CPUPerSaga
				}
			}
			return 0
		}},
		{"read-model rebuild events/s", func(r bench.Report) float64 {
			if r.Replay == nil {
				return 0
			}
			return r.Replay.EventsPerSec
		}},
	}
	for _, row := range rows {
		on, off := c.column(row.pick)
		ratio := 0.0
		if off != 0 {
			ratio = on / off
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.3f\n", row.name, on, off, ratio)
	}
}
