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

// signatureCost is `saga bench --signatures-cost`: the same run with
// signatures on and off, alternately, rounds times each, every run on a
// namespace (and system) of its own; the medians and their ratios say what
// signing and checking cost on this machine.
type signatureCost struct {
	Rounds int            `json:"rounds"`
	On     []bench.Report `json:"on"`
	Off    []bench.Report `json:"off"`
}

func runSignatureCost(ctx context.Context, o bench.Options, rounds int, progress func(string)) (signatureCost, error) {
	res := signatureCost{Rounds: rounds}
	ns := o.Bus.Namespace
	for i := range rounds {
		for _, on := range []bool{true, false} {
			run := o
			run.Bus.Namespace = ns + "-" + map[bool]string{true: "on", false: "off"}[on] + strconv.Itoa(i+1)
			run.Chart = ""
			if !on {
				run.Bus.Trust, run.Bus.Signer = nil, nil
			}
			progress(fmt.Sprintf("round %d of %d, signatures %s", i+1, rounds, map[bool]string{true: "on", false: "off"}[on]))
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

func (c signatureCost) column(pick func(bench.Report) float64) (on, off float64) {
	var a, b []float64
	for _, r := range c.On {
		a = append(a, pick(r))
	}
	for _, r := range c.Off {
		b = append(b, pick(r))
	}
	return median(a), median(b)
}

// WriteText prints the medians with signatures on and off and their ratio.
func (c signatureCost) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "median of %d runs each\tsignatures on\tsignatures off\ton/off\n", c.Rounds)
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
