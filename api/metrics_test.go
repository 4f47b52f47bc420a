package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/metrics"
)

// TestMetricsOnTheAPIListener: the API's listener serves /metrics when the
// process records metrics, and answers 404 there when it does not.
func TestMetricsOnTheAPIListener(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Metrics = metrics.New()
	cfg.Metrics.SagaStarted("book-ticket")
	base := h.serve(api.Config{Bus: cfg, RateLimit: -1, SignupRate: -1})

	get := func(url string) (int, string) {
		resp, err := http.Get(url) //nolint:noctx // a test's scrape
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := get(base + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", code, body)
	}
	for _, want := range []string{`saga_sagas_started_total{definition="book-ticket"} 1`, "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(h.base + "/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics = %d, want 404", code)
	}
}
