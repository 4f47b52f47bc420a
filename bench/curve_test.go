package bench

import (
	"context"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

func TestParseRates(t *testing.T) {
	tests := []struct {
		in   string
		want []float64
		err  string
	}{
		{in: "20,50,100,200,500,1000,max", want: []float64{20, 50, 100, 200, 500, 1000, 0}},
		{in: " 20 , max ", want: []float64{20, 0}},
		{in: "max", want: []float64{0}},
		{in: "0", want: []float64{0}},
		{in: "12.5", want: []float64{12.5}},
		{in: "500,20", want: []float64{500, 20}},
		{in: "", err: "an empty rate"},
		{in: "20,,50", err: "an empty rate"},
		{in: "20,", err: "an empty rate"},
		{in: "-5", err: `"-5" is not a rate`},
		{in: "fast", err: `"fast" is not a rate`},
		{in: "Inf", err: `"Inf" is not a rate`},
		{in: "NaN", err: `"NaN" is not a rate`},
		{in: "20,20", err: "20 given twice"},
		{in: "max,0", err: "max given twice"},
	}
	for _, tt := range tests {
		got, err := ParseRates(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRates(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseRates(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestCurveSagasFor(t *testing.T) {
	tests := []struct {
		name       string
		o          CurveOptions
		rate, best float64
		want       int
	}{
		{"seconds of the rate", CurveOptions{Seconds: 10, MinSagas: 300}, 100, 0, 1000},
		{"at least the minimum", CurveOptions{Seconds: 10, MinSagas: 300}, 20, 0, 300},
		{"a fraction rounds up", CurveOptions{Seconds: 3, MinSagas: 1}, 12.5, 0, 38},
		{"max: twice the best so far", CurveOptions{Seconds: 10, MinSagas: 300}, 0, 480, 9600},
		{"max first: the minimum", CurveOptions{Seconds: 10, MinSagas: 300}, 0, 0, 300},
		{"sagas given win", CurveOptions{Seconds: 10, Sagas: 50, MinSagas: 300}, 1000, 900, 50},
	}
	for _, tt := range tests {
		if got := tt.o.sagasFor(tt.rate, tt.best); got != tt.want {
			t.Errorf("%s: sagasFor(%g, %g) = %d, want %d", tt.name, tt.rate, tt.best, got, tt.want)
		}
	}
}

func samplePoints() []CurvePoint {
	return []CurvePoint{
		{Rate: 20, Sagas: 300, Seconds: 15.1, SagasPerSec: 19.9, Latency: Latency{P50: 12.5, P95: 20, P99: 31.25, Max: 40}},
		{Rate: 500, Sagas: 5000, Seconds: 10.2, SagasPerSec: 490.2, Latency: Latency{P50: 25, P95: 60, P99: 120, Max: 300}},
		{Rate: 0, Sagas: 9800, Seconds: 4.9, SagasPerSec: 2000.4, Latency: Latency{P50: 800, P95: 1500, P99: 2100, Max: 2500}},
	}
}

func TestCurveWriteTable(t *testing.T) {
	var b strings.Builder
	Curve{Broker: "embedded", Machine: Machine{Cores: 2, CPU: "AMD EPYC"}, Points: samplePoints()}.WriteTable(&b)
	want := `broker   embedded
machine  2 cores, AMD EPYC

  offered/s  achieved/s  sagas  p50 ms  p95 ms  p99 ms  max ms
         20          20    300    12.5    20.0    31.2    40.0
        500         490   5000    25.0    60.0   120.0   300.0
        max        2000   9800   800.0  1500.0  2100.0  2500.0
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestCurveData(t *testing.T) {
	pts := samplePoints()
	pts = append(pts, CurvePoint{Rate: 50, Sagas: 10, SagasPerSec: 0}) // nothing measured
	d := curveDataOf(pts)
	nan := math.NaN()
	eq := func(name string, got, want []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		for i := range got {
			if !(got[i] == want[i] || math.IsNaN(got[i]) && math.IsNaN(want[i])) {
				t.Errorf("%s = %v, want %v", name, got, want)
				return
			}
		}
	}
	if want := []string{"20", "500", "max (2000/s)", "50"}; !reflect.DeepEqual(d.labels, want) {
		t.Errorf("labels = %q, want %q", d.labels, want)
	}
	eq("p50", d.p50, []float64{12.5, 25, 800, nan})
	eq("p95", d.p95, []float64{20, 60, 1500, nan})
	eq("p99", d.p99, []float64{31.25, 120, 2100, nan})
	eq("achieved", d.achieved, []float64{19.9, 490.2, 2000.4, 0})
	eq("offered", d.offered, []float64{20, 500, nan, 50})
	if d.latMin != 12.5 || d.latMax != 2100 {
		t.Errorf("latency range = %g..%g, want 12.5..2100", d.latMin, d.latMax)
	}
}

func TestNiceAxisBounds(t *testing.T) {
	tests := []struct{ v, below, above float64 }{
		{12.5, 10, 20}, {31, 20, 50}, {2100, 2000, 5000}, {1, 1, 1}, {0.3, 0.2, 0.5}, {700, 500, 1000}, {5, 5, 5},
	}
	for _, tt := range tests {
		if b, a := niceBelow(tt.v), niceAbove(tt.v); math.Abs(b-tt.below) > 1e-9 || math.Abs(a-tt.above) > 1e-9 {
			t.Errorf("%g: niceBelow %g niceAbove %g, want %g %g", tt.v, b, a, tt.below, tt.above)
		}
	}
	var labels []string
	for _, tk := range logTicks(10, 500) {
		labels = append(labels, tk.Label)
	}
	if want := []string{"10", "20", "50", "100", "200", "500"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("logTicks(10, 500) = %q, want %q", labels, want)
	}
}

func TestWriteCurveChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "curve.png")
	if err := WriteCurveChart(path, "a curve", samplePoints()); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if b := img.Bounds(); b.Dx() != chartWidthPx || b.Dy() != chartHeightPx {
		t.Errorf("chart is %dx%d, want %dx%d", b.Dx(), b.Dy(), chartWidthPx, chartHeightPx)
	}
	for name, c := range map[string]color.RGBA{"p50": colorP50, "p99": colorP99, "achieved": colorSagas} {
		if n := countNear(img, 0, chartHeightPx, c); n < 100 {
			t.Errorf("%s: %d pixels of its colour, want a line", name, n)
		}
	}
	if err := WriteCurveChart(path, "", nil); err == nil {
		t.Error("a chart of no points: no error")
	}
}

// TestRunCurve runs a tiny curve end to end, the system and (without
// KAFKA_BROKERS) the broker as child processes: every rate measured, in
// order, every saga ended, and the chart written.
func TestRunCurve(t *testing.T) {
	exe := recoveryBinary(t)
	cfg := signed(t, bus.Config{Namespace: bustest.Namespace()})
	if os.Getenv(bustest.EnvBrokers) != "" {
		cfg = signed(t, bustest.Start(t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	chart := filepath.Join(dir, "curve.png")
	cv, err := RunCurve(ctx, CurveOptions{Exe: exe, Bus: cfg, DataDir: dir, Rates: []float64{20, 50, 0},
		Sagas: 20, MinSagas: 1, Warmup: 5, Chart: chart})
	if err != nil {
		t.Fatal(err)
	}
	if len(cv.Points) != 3 {
		t.Fatalf("points %+v, want 3", cv.Points)
	}
	for i, rate := range []float64{20, 50, 0} {
		p := cv.Points[i]
		if p.Rate != rate || p.Sagas != 20 || p.SagasPerSec <= 0 || p.Latency.P50 <= 0 || p.Latency.P50 > p.Latency.P99 {
			t.Errorf("point %d: %+v", i, p)
		}
	}
	if fi, err := os.Stat(chart); err != nil || fi.Size() == 0 || cv.Chart != chart {
		t.Errorf("chart %q: %v", cv.Chart, err)
	}
}
