package system_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/metrics"
	"github.com/sagaflow/saga/system"
)

// TestMetricsCountWhatTheSystemDid runs every part with the read models on
// the embedded broker, books sagas that complete and ones that compensate,
// poisons a request, and scrapes /metrics over HTTP.
func TestMetricsCountWhatTheSystemDid(t *testing.T) {
	h := newHarness(t)
	m := metrics.New()
	cfg := h.cfg
	cfg.Metrics = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(testLogLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: cfg, Log: log, Timings: testTimings, Keys: h.keys,
			ReadModel: filepath.Join(t.TempDir(), "read.db")})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)

	const completed, compensated = 3, 2
	for i := range completed + compensated {
		token := "tok_ok"
		if i >= completed {
			token = "tok_declined"
		}
		h.wait(h.book("alice", "show-1", 1, token))
	}
	poison := message.NewMessage("metrics-bad-1", []byte("{not json"))
	poison.Metadata.Set(events.HeaderType, string(events.StartSaga))
	poison.Metadata.Set(events.HeaderVersion, "1")
	h.publish(events.TopicRequests, poison)

	const def = "definition=book-ticket"
	var fams map[string]*dto.MetricFamily
	// Counters are recorded as the orchestrator decides, before the read
	// model shows the end; lags fall to 0 once everything is committed.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		fams = scrape(t, srv.URL)
		lags := series(fams["saga_consumer_lag"])
		plags := series(fams["saga_projection_lag_events"])
		ok := value(fams, "saga_sagas_ended_total", def, "status=compensated") == compensated &&
			value(fams, "saga_dlq_messages_total", "topic="+events.TopicRequests, "reason=malformed") == 1 &&
			len(lags) > 0 && allZero(lags) && len(plags) > 0 && allZero(plags)
		return ok, fmt.Sprintf("compensated %v, dlq %v, consumer lag %v, projection lag %v",
			value(fams, "saga_sagas_ended_total", def, "status=compensated"), fams["saga_dlq_messages_total"].GetMetric(), lags, plags)
	})

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"saga_sagas_started_total", []string{def}, completed + compensated},
		{"saga_sagas_ended_total", []string{def, "status=completed"}, completed},
		{"saga_sagas_ended_total", []string{def, "status=compensated"}, compensated},
		{"saga_sagas_running", []string{def}, 0},
		{"saga_dlq_records", nil, 1}, // the poisoned request
		{"saga_sagas_stuck", []string{def}, 0},
		{"saga_step_attempts_total", []string{def, "step=VerifyUser", "outcome=succeeded"}, completed + compensated},
		{"saga_step_attempts_total", []string{def, "step=ChargePayment", "outcome=succeeded"}, completed},
		{"saga_step_attempts_total", []string{def, "step=ChargePayment", "outcome=failed"}, compensated},
		{"saga_step_attempts_total", []string{def, "step=SendNotification", "outcome=succeeded"}, completed},
		{"saga_step_duration_seconds", []string{def, "step=VerifyUser", "outcome=succeeded"}, completed + compensated},
		{"saga_step_duration_seconds", []string{def, "step=ReserveSeats", "outcome=succeeded"}, completed + compensated},
		{"saga_step_duration_seconds", []string{def, "step=ChargePayment", "outcome=failed"}, compensated},
		{"saga_step_duration_seconds", []string{def, "step=ConfirmBooking", "outcome=succeeded"}, completed},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// An attempt takes from its command to its reply: more than nothing,
	// less than the step's timeout.
	for _, s := range fams["saga_step_duration_seconds"].GetMetric() {
		h := s.GetHistogram()
		if mean := h.GetSampleSum() / float64(h.GetSampleCount()); mean <= 0 || mean > testTimings.StepTimeout.Seconds() {
			t.Errorf("step %s: mean attempt %vs, want within (0, %v]", label(s, "step"), mean, testTimings.StepTimeout)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s is missing: the Go and process collectors are not registered", name)
		}
	}
	groups := map[string]bool{}
	for _, s := range fams["saga_consumer_lag"].GetMetric() {
		groups[label(s, "group")] = true
	}
	for _, g := range []string{"orchestrator", "payment"} {
		if !groups[g] {
			t.Errorf("no saga_consumer_lag series of group %s: %v", g, groups)
		}
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics") //nolint:noctx // a test's scrape
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// value is the value of the series of the family whose labels are
// pairs, each "name=value" (a histogram's sample count); -1 when there
// is none.
func value(fams map[string]*dto.MetricFamily, name string, pairs ...string) float64 {
next:
	for _, m := range fams[name].GetMetric() {
		if len(m.GetLabel()) != len(pairs) {
			continue
		}
		for _, p := range pairs {
			k, v, _ := strings.Cut(p, "=")
			if label(m, k) != v {
				continue next
			}
		}
		switch {
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		default:
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// series is a family's gauges by their labels.
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		k := ""
		for _, l := range m.GetLabel() {
			k += l.GetName() + "=" + l.GetValue() + ","
		}
		out[k] = m.GetGauge().GetValue()
	}
	return out
}

func allZero(s map[string]float64) bool {
	for _, v := range s {
		if v != 0 {
			return false
		}
	}
	return true
}
