package api_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
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
	// A booking through that listener: the system is up, and the API
	// works as before with metrics on.
	// (The shows are on sale once the read model has them.)
	alice := h.token("alice", api.RoleCustomer)
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(base, req{method: "POST", path: "/v1/bookings", token: alice,
			body: booking("show-1", 1, "tok_ok"), headers: []string{"Prefer", "wait=30", "Idempotency-Key", "api-metrics-1"}})
		return r.status == http.StatusCreated, fmt.Sprintf("POST /v1/bookings = %d: %s", r.status, r.body)
	})

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
