package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// Samples of the overview: one a second, the last samples minutes kept.
const (
	sampleEvery = time.Second
	samples     = 180
)

// metric names of the overview, in the order of its tiles. "stuck" is the
// watchdog's: the sagas that need an operator now.
var metricNames = []string{"started_per_s", "completed_per_s", "compensated_per_s", "failed_per_s",
	"p50_ms", "p99_ms", "running", "failed", "stuck", "dlq", "projection_lag"}

var metricTitles = map[string]string{
	"started_per_s": "started /s", "completed_per_s": "completed /s", "compensated_per_s": "compensated /s",
	"failed_per_s": "failed /s", "p50_ms": "p50 latency ms", "p99_ms": "p99 latency ms", "running": "running",
	"failed": "failed (parked)", "stuck": "stuck", "dlq": "dead letters",
	"projection_lag": "read-model lag (records)",
}

// lagEvery is how often the overview asks Kafka how far behind the read
// models are.
const lagEvery = 5 * time.Second

// sample is the overview at one moment.
type sample struct {
	At     time.Time          `json:"at"`
	Values map[string]float64 `json:"values"`
	counts map[string]int
}

// sampler keeps the overview's recent samples, taken when a page asks
// (so nothing runs when nobody watches).
type sampler struct {
	db  *readmodel.DB
	bus bus.Config
	mu  sync.Mutex
	// ring holds the samples, oldest first.
	ring []sample
	// lag is the read models' total lag, asked at lagAt.
	lag   float64
	lagAt time.Time
}

func newSampler(db *readmodel.DB, cfg bus.Config) *sampler {
	return &sampler{db: db, bus: cfg}
}

// projectionLag is the records the read models have still to apply, in
// all, asked of Kafka every lagEvery (the last answer in between, or when
// Kafka does not answer).
func (s *sampler) projectionLag(ctx context.Context, now time.Time) float64 {
	if len(s.bus.Brokers) == 0 || now.Sub(s.lagAt) < lagEvery {
		return s.lag
	}
	s.lagAt = now
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ps, err := readmodel.Status(ctx, s.bus, s.db)
	if err != nil {
		return s.lag
	}
	var n int64
	for _, p := range ps {
		n += p.LagEvents
	}
	s.lag = float64(n)
	return s.lag
}

// take samples the read model unless the last sample is recent.
func (s *sampler) take(ctx context.Context, now time.Time) ([]sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.ring); n > 0 && now.Sub(s.ring[n-1].At) < sampleEvery*9/10 {
		return slices.Clone(s.ring), nil
	}
	counts, err := s.db.SagaCounts(ctx)
	if err != nil {
		return nil, err
	}
	dlq, err := s.db.DeadLetterCount(ctx)
	if err != nil {
		return nil, err
	}
	lat, err := s.db.RecentLatencies(ctx, 500)
	if err != nil {
		return nil, err
	}
	stuckBy, err := s.db.StuckCounts(ctx)
	if err != nil {
		return nil, err
	}
	stuck := 0
	for _, n := range stuckBy {
		stuck += n
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	counts["_total"] = total
	v := map[string]float64{"running": float64(counts["running"] + counts["compensating"]), "failed": float64(counts["failed"]),
		"dlq": float64(dlq), "stuck": float64(stuck), "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99),
		"projection_lag": s.projectionLag(ctx, now)}
	if n := len(s.ring); n > 0 {
		prev := s.ring[n-1]
		secs := now.Sub(prev.At).Seconds()
		rate := func(k string) float64 { return max(0, float64(counts[k]-prev.counts[k])/secs) }
		v["started_per_s"] = rate("_total")
		for _, k := range []string{"completed", "compensated", "failed"} {
			v[k+"_per_s"] = rate(k)
		}
	}
	s.ring = append(s.ring, sample{At: now, Values: v, counts: counts})
	if len(s.ring) > samples {
		s.ring = s.ring[len(s.ring)-samples:]
	}
	return slices.Clone(s.ring), nil
}

func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return float64(s[min(max(i-1, 0), len(s)-1)].Milliseconds())
}

type tile struct {
	Name, Title, Value string
	Points             string
}

// tiles draws each metric's value and sparkline (an SVG polyline's
// points, 120 by 30).
func tiles(ring []sample) []tile {
	out := make([]tile, 0, len(metricNames))
	for _, name := range metricNames {
		t := tile{Name: name, Title: metricTitles[name]}
		var vals []float64
		for _, s := range ring {
			vals = append(vals, s.Values[name])
		}
		if len(vals) > 0 {
			t.Value = fmt.Sprintf("%.4g", vals[len(vals)-1])
		}
		t.Points = spark(vals)
		out = append(out, t)
	}
	return out
}

func spark(vals []float64) string {
	if len(vals) < 2 {
		return ""
	}
	top := slices.Max(vals)
	if top <= 0 {
		top = 1
	}
	var b strings.Builder
	for i, v := range vals {
		fmt.Fprintf(&b, "%.1f,%.1f ", float64(i)*120/float64(len(vals)-1), 30-v/top*28-1)
	}
	return strings.TrimSpace(b.String())
}

// overview is GET /ui/: the tiles, then live updates from /ui/stream.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s session) {
	ring, err := h.stats.take(r.Context(), h.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, "overview", s, map[string]any{"Tiles": tiles(ring)})
}

// stream is GET /ui/stream: Server-Sent Events, one "tiles" event a
// second with every tile's value and sparkline.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, _ session) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		ring, err := h.stats.take(r.Context(), h.now())
		if err != nil {
			return
		}
		raw, err := json.Marshal(tiles(ring))
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: tiles\ndata: %s\n\n", raw); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}
