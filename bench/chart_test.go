package bench

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// syntheticRun is a 30-second run at about 500 sagas/s with a stall: no
// saga ends in seconds 12 to 14, so those intervals have no latency.
func syntheticRun() []Sample {
	var s []Sample
	for i := 1; i <= 30; i++ {
		x := Sample{
			At:            time.Duration(i) * time.Second,
			SagasPerSec:   500 + 40*math.Sin(float64(i)/3),
			RecordsPerSec: 4000 + 300*math.Sin(float64(i)/3),
			P50:           20 + 2*math.Cos(float64(i)/4),
			P95:           45 + 5*math.Cos(float64(i)/4),
			P99:           80 + 15*math.Sin(float64(i)/2),
		}
		if i >= 12 && i <= 14 {
			x.SagasPerSec, x.P50, x.P95, x.P99 = 0, 0, 0, 0
			x.RecordsPerSec = 150
		}
		s = append(s, x)
	}
	return s
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// near reports whether c is within tol of want on each channel.
func near(c color.Color, want color.RGBA, tol int) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, b uint8) bool { return math.Abs(float64(int(a>>8)-int(b))) <= float64(tol) }
	return d(r, want.R) && d(g, want.G) && d(b, want.B)
}

// countNear counts the pixels of img in rows [y0, y1) near want.
func countNear(img image.Image, y0, y1 int, want color.RGBA) int {
	b := img.Bounds()
	n := 0
	for y := y0; y < y1; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if near(img.At(x, y), want, 12) {
				n++
			}
		}
	}
	return n
}

func TestWriteChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	if err := WriteChart(path, "500 sagas/s, embedded broker", syntheticRun()); err != nil {
		t.Fatal(err)
	}
	if dst := os.Getenv("BENCH_CHART_SAMPLE"); dst != "" {
		// Keep a copy to look at: BENCH_CHART_SAMPLE=/tmp/x.png go test ...
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := decodePNG(t, path)
	b := img.Bounds()
	if b.Dx() != chartWidthPx || b.Dy() != chartHeightPx {
		t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), chartWidthPx, chartHeightPx)
	}

	// The plotting area (the margins cut off) is not one flat colour.
	colours := map[color.RGBA]bool{}
	for y := b.Min.Y + 60; y < b.Max.Y-60; y++ {
		for x := b.Min.X + 100; x < b.Max.X-40; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	if len(colours) < 10 {
		t.Errorf("%d distinct colours in the plotting area, want many", len(colours))
	}

	// Each series is drawn, in its own panel: latency in the top third,
	// sagas/s in the middle one, records/s in the bottom one.
	h := b.Dy()
	thirds := [][2]int{{0, h / 3}, {h / 3, 2 * h / 3}, {2 * h / 3, h}}
	for _, c := range []struct {
		name  string
		col   color.RGBA
		panel int
	}{
		{"p50", colorP50, 0}, {"p95", colorP95, 0}, {"p99", colorP99, 0},
		{"sagas/s", colorSagas, 1}, {"records/s", colorRecords, 2},
	} {
		for i, th := range thirds {
			n := countNear(img, th[0], th[1], c.col)
			if i == c.panel && n < 200 {
				t.Errorf("%s: %d pixels of its colour in panel %d, want a line", c.name, n, i)
			}
			if i != c.panel && n > 0 {
				t.Errorf("%s: %d pixels of its colour in panel %d, want none", c.name, n, i)
			}
		}
	}
}

// TestWriteChartGap checks that the latency lines break where no saga
// ended (seconds 12 to 14 of the synthetic run, between the points at 11
// and 15) rather than dropping to zero: the columns of the top panel that
// hold the p50 colour have a hole of 4/29 of their span.
func TestWriteChartGap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.png")
	if err := WriteChart(path, "gap", syntheticRun()); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	b := img.Bounds()
	var cols []int
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Min.Y+b.Dy()/3; y++ {
			if near(img.At(x, y), colorP50, 12) {
				cols = append(cols, x)
				break
			}
		}
	}
	if len(cols) < 2 {
		t.Fatalf("p50 line not found")
	}
	// The last run of columns is the legend's p50 thumbnail, right of the
	// data: leave it out.
	last := len(cols) - 1
	for last > 0 && cols[last]-cols[last-1] == 1 {
		last--
	}
	data := cols[:last]
	if len(data) < 2 {
		t.Fatalf("p50 line not found left of its legend: columns %v", cols)
	}
	hole := 0
	for i := 1; i < len(data); i++ {
		hole = max(hole, data[i]-data[i-1]-1)
	}
	span := data[len(data)-1] - data[0]
	frac := float64(hole) / float64(span)
	if frac < 0.10 || frac > 0.18 {
		t.Errorf("widest hole in the p50 line is %d of %d columns (%.2f), want about 4/29 = 0.14", hole, span, frac)
	}
}

func TestWriteChartEdgeRuns(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string][]Sample{
		"one sample":        {{At: time.Second, SagasPerSec: 10, RecordsPerSec: 80, P50: 3, P95: 4, P99: 5}},
		"at zero":           {{At: 0, SagasPerSec: 10, RecordsPerSec: 80, P50: 3, P95: 4, P99: 5}},
		"no saga ended":     {{At: time.Second, RecordsPerSec: 5}, {At: 2 * time.Second, RecordsPerSec: 7}},
		"all zero":          {{At: time.Second}, {At: 2 * time.Second}},
		"lone latency":      {{At: time.Second}, {At: 2 * time.Second, SagasPerSec: 1, P50: 9, P95: 9, P99: 9}, {At: 3 * time.Second}},
		"out of order, NaN": {{At: 3 * time.Second, SagasPerSec: 3, P50: math.NaN(), P95: 2, P99: 3}, {At: time.Second, SagasPerSec: math.Inf(1), P50: 1, P95: 2, P99: 3}},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".png")
		if err := WriteChart(path, "", s); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if b := decodePNG(t, path).Bounds(); b.Dx() != chartWidthPx || b.Dy() != chartHeightPx {
			t.Errorf("%s: size %dx%d", name, b.Dx(), b.Dy())
		}
	}
}

func TestWriteChartDoesNotChangeSamples(t *testing.T) {
	s := []Sample{{At: 2 * time.Second, SagasPerSec: 1, P50: 1, P95: 1, P99: 1}, {At: time.Second}}
	want := append([]Sample(nil), s...)
	if err := WriteChart(filepath.Join(t.TempDir(), "c.png"), "t", s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("samples changed: %+v", s)
	}
}

func TestWriteChartErrors(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string][]Sample{"nil": nil, "empty": {}} {
		path := filepath.Join(dir, name+".png")
		err := WriteChart(path, "t", s)
		if err == nil || !strings.Contains(err.Error(), "no samples") {
			t.Errorf("%s samples: err %v, want one that says there are no samples", name, err)
		}
		if _, statErr := os.Stat(path); !os.IsNotExist(statErr) {
			t.Errorf("%s samples: a file was written", name)
		}
	}

	// Unwritable: the directory does not exist (root can write anywhere
	// else), and a path that is a directory.
	for _, path := range []string{filepath.Join(dir, "missing", "run.png"), dir} {
		err := WriteChart(path, "t", syntheticRun())
		if err == nil {
			t.Errorf("%s: no error", path)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the path", path, err)
		}
	}
}

func TestChartSegments(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(-1)
	for _, c := range []struct {
		ys   []float64
		want [][2]int
	}{
		{nil, nil},
		{[]float64{nan, nan}, nil},
		{[]float64{1, 2, 3}, [][2]int{{0, 3}}},
		{[]float64{nan, 1, 2, nan, nan, 3, inf, 4, 5}, [][2]int{{1, 3}, {5, 6}, {7, 9}}},
		{[]float64{0, nan, 0}, [][2]int{{0, 1}, {2, 3}}},
	} {
		if got := segments(c.ys); !reflect.DeepEqual(got, c.want) {
			t.Errorf("segments(%v) = %v, want %v", c.ys, got, c.want)
		}
	}
}

func TestChartSampleJSON(t *testing.T) {
	b, err := json.Marshal(Sample{At: time.Second, SagasPerSec: 1, RecordsPerSec: 2, P50: 3, P95: 4, P99: 5})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"at":1000000000,"sagas_per_sec":1,"records_per_sec":2,"p50_ms":3,"p95_ms":4,"p99_ms":5}`
	if string(b) != want {
		t.Errorf("json %s, want %s", b, want)
	}
}

func TestPercentile(t *testing.T) {
	ten := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(i + 1)
	}
	twenty := hundred[:20]
	ties := []float64{1, 2, 2, 2, 2, 2, 2, 2, 2, 9}
	for _, c := range []struct {
		name   string
		sorted []float64
		p      float64
		want   float64
	}{
		{"nil", nil, 50, 0},
		{"empty", []float64{}, 99, 0},
		{"empty p=0", []float64{}, 0, 0},
		{"one p=0", []float64{7}, 0, 7},
		{"one p=50", []float64{7}, 50, 7},
		{"one p=100", []float64{7}, 100, 7},
		{"two p=50", []float64{1, 2}, 50, 1},
		{"two p=51", []float64{1, 2}, 51, 2},
		{"ten p=0", ten, 0, 1},
		{"ten p=10", ten, 10, 1},
		{"ten p=11", ten, 11, 2},
		{"ten p=50", ten, 50, 5},
		{"ten p=95", ten, 95, 10},
		{"ten p=99", ten, 99, 10},
		{"ten p=100", ten, 100, 10},
		{"twenty p=95", twenty, 95, 19},
		{"hundred p=7", hundred, 7, 7},      // 0.07*100 is 7.000000000000001
		{"fifty p=14", hundred[:50], 14, 7}, // 0.14*50 is 7.000000000000001
		{"twenty p=99", twenty, 99, 20},
		{"hundred p=0", hundred, 0, 1},
		{"hundred p=50", hundred, 50, 50},
		{"hundred p=95", hundred, 95, 95},
		{"hundred p=99", hundred, 99, 99},
		{"hundred p=99.5", hundred, 99.5, 100},
		{"hundred p=100", hundred, 100, 100},
		{"hundred p=0.5", hundred, 0.5, 1},
		{"hundred p=1", hundred, 1, 1},
		{"hundred p=1.01", hundred, 1.01, 2},
		{"ties p=0", ties, 0, 1},
		{"ties p=10", ties, 10, 1},
		{"ties p=11", ties, 11, 2},
		{"ties p=50", ties, 50, 2},
		{"ties p=90", ties, 90, 2},
		{"ties p=95", ties, 95, 9},
		{"ties p=100", ties, 100, 9},
		{"all equal", []float64{4, 4, 4}, 50, 4},
		{"negative values", []float64{-3, -2, -1}, 50, -2},
		{"p<0 clamps to 0", ten, -5, 1},
		{"p=-inf clamps to 0", ten, math.Inf(-1), 1},
		{"p>100 clamps to 100", ten, 250, 10},
		{"p=+inf clamps to 100", ten, math.Inf(1), 10},
		{"p=NaN counts as 0", ten, math.NaN(), 1},
		{"empty p out of range", nil, 500, 0},
	} {
		if got := Percentile(c.sorted, c.p); got != c.want {
			t.Errorf("%s: Percentile(%v, %v) = %v, want %v", c.name, c.sorted, c.p, got, c.want)
		}
	}
}
