package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sagaflow/saga/bus"
)

// DefaultRates are the offered rates of a latency curve, in sagas per
// second; 0 is as fast as possible.
var DefaultRates = []float64{20, 50, 100, 200, 500, 1000, 0}

// ParseRates reads a comma-separated list of offered rates in sagas per
// second, "max" (or 0) being as fast as possible, e.g. "20,50,100,max".
// Rates must not be negative and are kept in the order given; a rate given
// twice is an error, as is an empty list.
func ParseRates(s string) ([]float64, error) {
	var out []float64
	seen := map[float64]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		var r float64
		switch f {
		case "":
			return nil, fmt.Errorf("rates %q: an empty rate", s)
		case "max":
		default:
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("rates %q: %q is not a rate in sagas/s nor max", s, f)
			}
			r = v
		}
		if seen[r] {
			return nil, fmt.Errorf("rates %q: %s given twice", s, RateLabel(r))
		}
		seen[r] = true
		out = append(out, r)
	}
	return out, nil
}

// RateLabel is how a curve names an offered rate: "20", or "max" for 0.
func RateLabel(r float64) string {
	if r == 0 {
		return "max"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// CurveOptions is one latency-versus-load curve: one system, warmed up
// once, then a run at each rate in turn.
type CurveOptions struct {
	Exe     string
	Bus     bus.Config
	DataDir string
	Rates   []float64
	// Seconds is how long each fixed rate runs; it sets the rate's sagas
	// (at least MinSagas) unless Sagas is set.
	Seconds float64
	// Sagas, when positive, is the sagas of every rate.
	Sagas int
	// MinSagas is the fewest sagas a rate runs, so its p99 means something.
	MinSagas int
	// Warmup sagas run once, as fast as possible, before the first rate.
	Warmup int
	Mix    Mix
	// Chart is the PNG to write; none when empty.
	Chart    string
	Progress func(string)
}

// CurvePoint is what one offered rate measured.
type CurvePoint struct {
	// Rate is offered sagas per second; 0 is as fast as possible.
	Rate        float64 `json:"rate"`
	Sagas       int     `json:"sagas"`
	Seconds     float64 `json:"seconds"`
	SagasPerSec float64 `json:"sagas_per_sec"`
	Latency     Latency `json:"latency_ms"`
}

// Curve is a latency-versus-load curve. Its JSON form is the report of
// `saga bench curve`.
type Curve struct {
	Date    string       `json:"date"`
	Machine Machine      `json:"machine"`
	Broker  string       `json:"broker"`
	Mix     Mix          `json:"mix"`
	Points  []CurvePoint `json:"points"`
	Chart   string       `json:"chart,omitempty"`
}

// sagasFor is how many sagas a rate runs: Sagas when set, else Seconds of
// the rate, at least MinSagas. As fast as possible has no rate: it runs
// Seconds of the fastest rate achieved so far (best), twice over, since it
// will go faster.
func (o CurveOptions) sagasFor(rate, best float64) int {
	if o.Sagas > 0 {
		return o.Sagas
	}
	if rate == 0 {
		rate = 2 * best
	}
	return max(o.MinSagas, int(math.Ceil(rate*o.Seconds)))
}

// RunCurve starts the system, warms it up, runs each rate in turn and
// writes the chart. A rate whose sagas do not all end fails the curve.
func RunCurve(ctx context.Context, o CurveOptions) (Curve, error) {
	if len(o.Rates) == 0 {
		return Curve{}, errors.New("bench: a curve needs rates")
	}
	if o.Sagas <= 0 && o.Seconds <= 0 {
		return Curve{}, errors.New("bench: a curve needs sagas or seconds per rate")
	}
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	cv := Curve{Date: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine(), Broker: brokerName(o.Bus)}
	spec := SagaSpec{Sagas: 1, Mix: o.Mix, Warmup: o.Warmup}
	spec.setDefaults()
	cv.Mix = spec.Mix
	say("starting the system (" + cv.Broker + ")")
	c, err := startCluster(ctx, o.Exe, o.Bus, o.DataDir, "", SystemParts,
		[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="})
	if err != nil {
		return cv, err
	}
	defer c.Stop()
	shows, err := addShows(ctx, c.Bus, spec)
	if err != nil {
		return cv, err
	}
	d, err := newDriver(c.Bus, spec, shows)
	if err != nil {
		return cv, err
	}
	defer d.close()
	if spec.Warmup > 0 {
		say(fmt.Sprintf("warming up with %d sagas", spec.Warmup))
		if _, err := d.phase(ctx, "warmup", spec.Warmup, 0); err != nil {
			return cv, fmt.Errorf("warm-up: %w", err)
		}
	}
	best := 0.0
	for _, rate := range o.Rates {
		n := o.sagasFor(rate, best)
		say(fmt.Sprintf("%d sagas at %s", n, rateName(rate)))
		res, err := d.phase(ctx, RateLabel(rate), n, rate)
		if err != nil {
			if alive := c.Alive(); alive != nil {
				err = fmt.Errorf("%w; %w", err, alive)
			}
			return cv, err
		}
		best = max(best, res.SagasPerSec)
		cv.Points = append(cv.Points, CurvePoint{Rate: rate, Sagas: n, Seconds: res.Seconds,
			SagasPerSec: res.SagasPerSec, Latency: res.Latency})
	}
	if o.Chart != "" {
		title := fmt.Sprintf("Latency against offered load, book-ticket sagas, %s", cv.Broker)
		if err := WriteCurveChart(o.Chart, title, cv.Points); err != nil {
			return cv, err
		}
		cv.Chart = o.Chart
	}
	return cv, nil
}

func brokerName(cfg bus.Config) string {
	if len(cfg.Brokers) == 0 {
		return "embedded (kfake, own process, data on disk)"
	}
	return "Kafka at " + strings.Join(cfg.Brokers, ",")
}

// WriteTable prints the curve, one line a rate: offered and achieved
// sagas/s, the sagas measured and their latency in ms.
func (c Curve) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "broker   %s\nmachine  %d cores, %s\n\n", c.Broker, c.Machine.Cores, c.Machine.CPU)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "offered/s\tachieved/s\tsagas\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, p := range c.Points {
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", RateLabel(p.Rate), p.SagasPerSec, p.Sagas,
			p.Latency.P50, p.Latency.P95, p.Latency.P99, p.Latency.Max)
	}
	_ = tw.Flush()
}
