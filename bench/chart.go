package bench

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Sample is one interval of a run (e.g. one second).
type Sample struct {
	At            time.Duration `json:"at"`              // end of the interval, since the run started
	SagasPerSec   float64       `json:"sagas_per_sec"`   // sagas that ended in the interval, per second
	RecordsPerSec float64       `json:"records_per_sec"` // records through the broker in the interval, per second
	// End-to-end latency in ms of the sagas that ended in the interval; all
	// three are zero for an interval in which no saga ended.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

// Percentile returns the p-th percentile (0..100) of sorted values by nearest rank; 0 for none.
//
// sorted must be in ascending order. The nearest rank is ceil(p/100*n),
// at least 1, so p=0 gives the smallest value and p=100 the largest. A p
// outside 0..100 is clamped to it (NaN counts as 0).
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if !(p > 0) { // also NaN
		p = 0
	}
	if p > 100 {
		p = 100
	}
	// p*n/100 rather than p/100*n: 7*100/100 is exactly 7, whereas
	// 0.07*100 is 7.000000000000001 and would take the 8th value.
	rank := int(math.Ceil(p * float64(n) / 100))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// Chart geometry: about 1000x700 pixels at 96 dpi.
const (
	chartDPI      = 96
	chartWidthPx  = 1000
	chartHeightPx = 700
)

// Series colours (Okabe-Ito: told apart with colour-blindness too).
var (
	colorP50     = color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff} // blue
	colorP95     = color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 0xff} // orange
	colorP99     = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff} // vermilion
	colorSagas   = color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff} // bluish green
	colorRecords = color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff} // reddish purple
)

var chartFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

// WriteChart writes to path a PNG chart of a run, about 1000x700 pixels:
// title above stacked panels that share one time axis (seconds, labelled
// "time (s)" under the bottom panel): latency p50/p95/p99 in ms on top, then
// throughput as two panels, each on its own scale, sagas per second and
// records per second (records/s is several times sagas/s, and one shared
// scale would flatten the sagas line). Each panel's legend stands right of
// it, off the lines.
//
// Samples are drawn in order of At (a copy is sorted; samples is not
// changed), each point at the end of its interval.
//
// Gaps, not fake zeros: an interval in which no saga ended has P50, P95 and
// P99 all zero; it has no latency, so it gets no latency point and the
// latency lines break there (a point with gaps on both sides is drawn as a
// dot; a run with no latency at all says so in the empty panel). Throughput
// is drawn for every interval: zero sagas per second is a true value. A NaN
// or infinite value is left out in the same way, in any panel.
//
// Empty or nil samples is an error, and so is a path that cannot be
// written; the PNG is rendered in memory first, so a failed render leaves no
// file behind.
func WriteChart(path, title string, samples []Sample) error {
	if len(samples) == 0 {
		return errors.New("bench: chart: no samples to draw")
	}
	png, err := renderChart(title, samples)
	if err != nil {
		return fmt.Errorf("bench: chart %s: %w", path, err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	return nil
}

// renderChart draws the chart and returns it as PNG bytes.
func renderChart(title string, samples []Sample) ([]byte, error) {
	s := append([]Sample(nil), samples...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].At < s[j].At })

	xs := make([]float64, len(s))
	for i := range s {
		xs[i] = s[i].At.Seconds()
	}
	xmin := math.Min(0, xs[0])
	xmax := xs[len(xs)-1]
	if !(xmax > xmin) {
		xmax = xmin + 1
	}

	latency := func(v func(Sample) float64) []float64 {
		ys := make([]float64, len(s))
		for i, x := range s {
			if x.P50 == 0 && x.P95 == 0 && x.P99 == 0 {
				ys[i] = math.NaN() // no saga ended: a gap
			} else {
				ys[i] = v(x)
			}
		}
		return ys
	}
	rate := func(v func(Sample) float64) []float64 {
		ys := make([]float64, len(s))
		for i, x := range s {
			ys[i] = v(x)
		}
		return ys
	}

	top, err := newPanel("latency (ms)", xmin, xmax, []series{
		{"p50", colorP50, latency(func(x Sample) float64 { return x.P50 })},
		{"p95", colorP95, latency(func(x Sample) float64 { return x.P95 })},
		{"p99", colorP99, latency(func(x Sample) float64 { return x.P99 })},
	}, xs)
	if err != nil {
		return nil, err
	}
	mid, err := newPanel("sagas per second", xmin, xmax, []series{
		{"sagas/s", colorSagas, rate(func(x Sample) float64 { return x.SagasPerSec })},
	}, xs)
	if err != nil {
		return nil, err
	}
	bottom, err := newPanel("records per second", xmin, xmax, []series{
		{"records/s", colorRecords, rate(func(x Sample) float64 { return x.RecordsPerSec })},
	}, xs)
	if err != nil {
		return nil, err
	}
	panels := []*panel{top, mid, bottom}
	// One time axis: only the bottom panel labels it; the ones above keep
	// its ticks and grid lines, unlabelled.
	bottom.X.Label.Text = "time (s)"
	top.X.Tick.Marker = unlabelledTicks{}
	mid.X.Tick.Marker = unlabelledTicks{}

	return renderPanels(title, panels)
}

// series is one line of a panel; a NaN y is a gap.
type series struct {
	name  string
	color color.Color
	ys    []float64
}

// panel is one of the stacked plots and its legend, drawn beside it.
type panel struct {
	*plot.Plot
	legend plot.Legend
}

// newPanel builds one panel: its series over xs, a grid, a legend, y from 0
// to a little above the highest value.
func newPanel(ylabel string, xmin, xmax float64, ss []series, xs []float64) (*panel, error) {
	p := plot.New()
	setFont(p)
	p.Y.Label.Text = ylabel
	p.X.Min, p.X.Max = xmin, xmax
	p.X.Padding, p.Y.Padding = 0, 0
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Marker = plainTicks{}
	p.Add(timeGrid{}, &plotter.Grid{Horizontal: plotter.DefaultGridLineStyle})

	legend := plot.NewLegend()
	legend.TextStyle.Font.Typeface, legend.TextStyle.Font.Variant = chartFont.Typeface, chartFont.Variant
	legend.Left, legend.Top = true, true
	legend.Padding = vg.Points(3)

	ymax, drawn := 0.0, false
	for _, sr := range ss {
		style := draw.LineStyle{Color: sr.color, Width: vg.Points(1.5)}
		for _, seg := range segments(sr.ys) {
			drawn = true
			xys := make(plotter.XYs, 0, seg[1]-seg[0])
			for i := seg[0]; i < seg[1]; i++ {
				xys = append(xys, plotter.XY{X: xs[i], Y: sr.ys[i]})
				ymax = math.Max(ymax, sr.ys[i])
			}
			if len(xys) == 1 {
				// A lone point between gaps has no line: draw it as a dot.
				sc, err := plotter.NewScatter(xys)
				if err != nil {
					return nil, err
				}
				sc.GlyphStyle = draw.GlyphStyle{Color: sr.color, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				continue
			}
			l, err := plotter.NewLine(xys)
			if err != nil {
				return nil, err
			}
			l.LineStyle = style
			p.Add(l)
		}
		// The legend's thumbnail is a line of the series' style, there even
		// when the series has no point at all.
		legend.Add(sr.name, &plotter.Line{LineStyle: style})
	}
	if !drawn {
		p.Add(note("no saga ended in this run"))
	}
	p.Y.Min = 0
	if ymax > 0 {
		p.Y.Max = ymax * 1.1
	} else {
		p.Y.Max = 1
	}
	return &panel{Plot: p, legend: legend}, nil
}

// segments returns the runs of finite values in ys as [start, end) index
// pairs; NaN and infinite values split them.
func segments(ys []float64) [][2]int {
	var out [][2]int
	start := -1
	for i, y := range ys {
		ok := !math.IsNaN(y) && !math.IsInf(y, 0)
		switch {
		case ok && start < 0:
			start = i
		case !ok && start >= 0:
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, [2]int{start, len(ys)})
	}
	return out
}

// setFont sets a sans-serif face, at the sizes plot.New chose, on all of
// p's text.
func setFont(p *plot.Plot) {
	for _, f := range []*font.Font{
		&p.Title.TextStyle.Font,
		&p.X.Label.TextStyle.Font, &p.Y.Label.TextStyle.Font,
		&p.X.Tick.Label.Font, &p.Y.Tick.Label.Font,
		&p.Legend.TextStyle.Font,
	} {
		f.Typeface, f.Variant = chartFont.Typeface, chartFont.Variant
	}
}

// plainTicks are plot.DefaultTicks with their labels in the shortest
// form: "2500", not "2500.00".
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label == "" {
			continue // a minor tick
		}
		if v, err := strconv.ParseFloat(ts[i].Label, 64); err == nil {
			ts[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ts
}

// unlabelledTicks are plainTicks without their labels.
type unlabelledTicks struct{}

func (unlabelledTicks) Ticks(min, max float64) []plot.Tick {
	ts := plainTicks{}.Ticks(min, max)
	for i := range ts {
		ts[i].Label = ""
	}
	return ts
}

// timeGrid draws a vertical grid line at each major time tick. It is
// plotter.Grid's vertical half, but it takes the major ticks from
// plainTicks: in a panel whose time ticks are unlabelled, plotter.Grid
// would take them all for minor ones and draw none.
type timeGrid struct{}

func (timeGrid) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	for _, tk := range (plainTicks{}).Ticks(plt.X.Min, plt.X.Max) {
		if tk.IsMinor() {
			continue
		}
		x := trX(tk.Value)
		c.StrokeLine2(plotter.DefaultGridLineStyle, x, c.Min.Y, x, c.Max.Y)
	}
}

// note is a line of grey text in the middle of a panel that has nothing
// to draw, so an empty panel does not pass for a broken chart.
type note string

func (n note) Plot(c draw.Canvas, _ *plot.Plot) {
	sty := text.Style{
		Color:   color.Gray{Y: 0x70},
		Font:    font.From(chartFont, 12),
		XAlign:  draw.XCenter,
		YAlign:  draw.YCenter,
		Handler: plot.DefaultTextHandler,
	}
	c.FillText(sty, c.Center(), string(n))
}

// renderPanels draws panels one above the other under title, each with
// its legend in a column to the right, and encodes the chart as PNG.
func renderPanels(title string, panels []*panel) ([]byte, error) {
	img := vgimg.NewWith(
		vgimg.UseWH(chartWidthPx*vg.Inch/chartDPI, chartHeightPx*vg.Inch/chartDPI),
		vgimg.UseDPI(chartDPI),
		vgimg.UseBackgroundColor(color.White),
	)
	dc := draw.New(img)

	pad := vg.Points(8)
	if title != "" {
		ts := text.Style{
			Color:   color.Black,
			Font:    font.From(chartFont, 16),
			XAlign:  draw.XCenter,
			YAlign:  draw.YTop,
			Handler: plot.DefaultTextHandler,
		}
		dc.FillText(ts, vg.Point{X: (dc.Min.X + dc.Max.X) / 2, Y: dc.Max.Y - pad}, title)
		dc = draw.Crop(dc, 0, 0, 0, -(ts.Height(title) + pad))
	}

	// The legends stand in a column right of the panels, off the lines.
	var legendW vg.Length
	for _, p := range panels {
		r := p.legend.Rectangle(dc)
		legendW = max(legendW, r.Max.X-r.Min.X)
	}
	gap := vg.Points(10)

	plots := make([][]*plot.Plot, len(panels))
	for j, p := range panels {
		plots[j] = []*plot.Plot{p.Plot}
	}
	tiles := draw.Tiles{
		Rows: len(panels), Cols: 1,
		PadY:   vg.Points(6),
		PadTop: pad, PadBottom: pad, PadLeft: pad,
		PadRight: legendW + gap + pad,
	}
	canvases := plot.Align(plots, tiles, dc)
	for j, p := range panels {
		c := canvases[j][0]
		p.Draw(c)
		data := p.DataCanvas(c)
		lc := data
		lc.Min.X = data.Max.X + gap
		lc.Max.X = lc.Min.X + legendW
		p.legend.Draw(lc)
	}

	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("encode png: %w", err)
	}
	return buf.Bytes(), nil
}
