package bench

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curveData is what a curve chart draws: one x position a point, in the
// order of the points, with its label, and the series over them. A
// latency that is not positive (no saga measured) is NaN, a gap, since
// the latency axis is logarithmic; offered is NaN for as fast as possible.
type curveData struct {
	labels            []string
	p50, p95, p99     []float64
	achieved, offered []float64
	latMin, latMax    float64 // the positive latencies' range; 0, 0 when none
}

func curveDataOf(points []CurvePoint) curveData {
	d := curveData{}
	pos := func(v float64) float64 {
		if !(v > 0) || math.IsInf(v, 0) {
			return math.NaN()
		}
		if d.latMin == 0 || v < d.latMin {
			d.latMin = v
		}
		d.latMax = math.Max(d.latMax, v)
		return v
	}
	for _, p := range points {
		label := RateLabel(p.Rate)
		if p.Rate == 0 {
			label = fmt.Sprintf("max (%.0f/s)", p.SagasPerSec)
		}
		d.labels = append(d.labels, label)
		d.p50 = append(d.p50, pos(p.Latency.P50))
		d.p95 = append(d.p95, pos(p.Latency.P95))
		d.p99 = append(d.p99, pos(p.Latency.P99))
		d.achieved = append(d.achieved, p.SagasPerSec)
		off := p.Rate
		if off == 0 {
			off = math.NaN()
		}
		d.offered = append(d.offered, off)
	}
	return d
}

// logTicks are the 1-2-5 ticks of a logarithmic axis from lo to hi, all
// labelled: "10", "20", "50", "100"...
func logTicks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
			}
		}
	}
	return out
}

// niceBelow is the largest 1-2-5 value (1, 2, 5, 10, 20...) at most v > 0;
// niceAbove the smallest at least v.
func niceBelow(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{5, 2, 1} {
		if m*e <= v {
			return m * e
		}
	}
	return e
}

func niceAbove(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

// WriteCurveChart writes to path a PNG chart of a latency curve, about
// 1000x700 pixels: p50/p95/p99 in ms on a logarithmic axis above, sagas/s
// achieved and offered below, against the offered rates spaced evenly in
// the order measured.
func WriteCurveChart(path, title string, points []CurvePoint) error {
	if len(points) == 0 {
		return errors.New("bench: curve chart: no points to draw")
	}
	png, err := renderCurve(title, curveDataOf(points))
	if err != nil {
		return fmt.Errorf("bench: curve chart %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("bench: curve chart: %w", err)
	}
	return nil
}

func renderCurve(title string, d curveData) ([]byte, error) {
	xs := make([]float64, len(d.labels))
	var xticks []plot.Tick
	for i, l := range d.labels {
		xs[i] = float64(i)
		xticks = append(xticks, plot.Tick{Value: float64(i), Label: l})
	}
	xmin, xmax := -0.3, float64(len(xs)-1)+0.3

	top, err := curvePanel("latency (ms)", xs, []series{
		{"p50", colorP50, d.p50}, {"p95", colorP95, d.p95}, {"p99", colorP99, d.p99},
	})
	if err != nil {
		return nil, err
	}
	if d.latMax > 0 {
		lo, hi := niceBelow(d.latMin), niceAbove(d.latMax*1.05)
		top.Y.Min, top.Y.Max = lo, hi
		top.Y.Scale = plot.LogScale{}
		top.Y.Tick.Marker = plot.ConstantTicks(logTicks(lo, hi))
	} else {
		top.Add(note("no saga ended"))
	}
	bottom, err := curvePanel("sagas per second", xs, []series{
		{"achieved", colorSagas, d.achieved}, {"offered", color.Gray{Y: 0x90}, d.offered},
	})
	if err != nil {
		return nil, err
	}
	ymax := 0.0
	for i := range xs {
		ymax = math.Max(ymax, math.Max(nanZero(d.achieved[i]), nanZero(d.offered[i])))
	}
	bottom.Y.Min, bottom.Y.Max = 0, math.Max(1, ymax*1.1)
	bottom.Y.Tick.Marker = plainTicks{}
	for _, p := range []*panel{top, bottom} {
		p.X.Min, p.X.Max = xmin, xmax
		p.X.Tick.Marker = plot.ConstantTicks(xticks)
	}
	top.X.Tick.Label.Color = color.Transparent
	bottom.X.Label.Text = "offered sagas per second"

	return renderPanels(title, []*panel{top, bottom})
}

func nanZero(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// curvePanel is one panel of a curve chart: each series a line through
// dots (NaN breaks the line), a grid and a legend.
func curvePanel(ylabel string, xs []float64, ss []series) (*panel, error) {
	p := plot.New()
	setFont(p)
	p.Y.Label.Text = ylabel
	p.X.Padding, p.Y.Padding = 0, 0
	p.Add(plotter.NewGrid())
	legend := plot.NewLegend()
	legend.TextStyle.Font.Typeface, legend.TextStyle.Font.Variant = chartFont.Typeface, chartFont.Variant
	legend.Left, legend.Top = true, true
	legend.Padding = vg.Points(3)
	for _, sr := range ss {
		style := draw.LineStyle{Color: sr.color, Width: vg.Points(1.5)}
		glyph := draw.GlyphStyle{Color: sr.color, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
		for _, seg := range segments(sr.ys) {
			xys := make(plotter.XYs, 0, seg[1]-seg[0])
			for i := seg[0]; i < seg[1]; i++ {
				xys = append(xys, plotter.XY{X: xs[i], Y: sr.ys[i]})
			}
			l, sc, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			l.LineStyle, sc.GlyphStyle = style, glyph
			p.Add(l, sc)
		}
		legend.Add(sr.name, &plotter.Line{LineStyle: style})
	}
	return &panel{Plot: p, legend: legend}, nil
}
