package metrics_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sagaflow/saga/metrics"
)

func TestReasonIsACodeNeverFreeText(t *testing.T) {
	for in, want := range map[string]string{
		"unsigned: StartSaga on saga.requests carries no signature": "unsigned",
		"bad_signature: ReserveSeats on booking.commands: nope":     "bad_signature",
		"signer_not_allowed: payment may not write":                 "signer_not_allowed",
		"malformed message: payload is not valid JSON":              "malformed",
		"panic occurred: runtime error":                             "panic",
		"Unknown_Command, x":                                        "unknown_command",
		"tok_4242 of user alice was declined":                       "other",
		"":                                                          "other",
	} {
		if got := metrics.Reason(in); got != want {
			t.Errorf("Reason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNilRecordsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.SagaStarted("d")
	m.SagaEnded("d", "completed")
	m.StepAttempt("d", "s", metrics.OutcomeSucceeded, time.Second)
	m.DeadLettered("t", "malformed")
	m.WebhookDelivery(metrics.WebhookDelivered)
	m.AddCensus(func() map[string]metrics.SagaCount { return nil })()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("nil metrics served %d, want 404", rec.Code)
	}
}

func TestRecordedSeriesAndGaugesFromSources(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.SagaStarted("book-ticket")
		m.StepAttempt("book-ticket", "ChargePayment", metrics.OutcomeFailed, 20*time.Millisecond)
	}
	m.SagaEnded("book-ticket", "compensated")
	m.WebhookDelivery(metrics.WebhookParked)
	// Two orchestrators in one process: their counts add up.
	m.AddCensus(func() map[string]metrics.SagaCount {
		return map[string]metrics.SagaCount{"book-ticket": {Running: 2, Stuck: 1}}
	})
	remove := m.AddCensus(func() map[string]metrics.SagaCount { return map[string]metrics.SagaCount{"book-ticket": {Running: 3}} })
	m.AddConsumerLag(func(context.Context) ([]metrics.PartitionLag, error) {
		return []metrics.PartitionLag{{Group: "orchestrator", Topic: "saga.replies", Partition: 1, Lag: 7}}, nil
	})
	m.AddConsumerLag(func(context.Context) ([]metrics.PartitionLag, error) { return nil, errors.New("broker away") })
	m.AddProjectionLag(func(context.Context) (map[string]int64, error) { return map[string]int64{"sagas": 4}, nil })

	want := `
# HELP saga_sagas_running Sagas started and not yet ended, by definition.
# TYPE saga_sagas_running gauge
saga_sagas_running{definition="book-ticket"} 5
# HELP saga_sagas_stuck Sagas that need an operator (past their SLO, or parked as failed), by definition.
# TYPE saga_sagas_stuck gauge
saga_sagas_stuck{definition="book-ticket"} 1
# HELP saga_consumer_lag Records behind the log end a consumer group's committed offset is.
# TYPE saga_consumer_lag gauge
saga_consumer_lag{group="orchestrator",partition="1",topic="saga.replies"} 7
# HELP saga_projection_lag_events Records of a projection's topics not yet applied to the read model.
# TYPE saga_projection_lag_events gauge
saga_projection_lag_events{projection="sagas"} 4
# HELP saga_step_attempts_total Attempts of saga steps, by outcome (succeeded, failed, timed_out).
# TYPE saga_step_attempts_total counter
saga_step_attempts_total{definition="book-ticket",outcome="failed",step="ChargePayment"} 3
# HELP saga_sagas_started_total Sagas started, by definition.
# TYPE saga_sagas_started_total counter
saga_sagas_started_total{definition="book-ticket"} 3
# HELP saga_webhook_deliveries_total Webhook delivery attempts, by outcome (delivered, failed, parked).
# TYPE saga_webhook_deliveries_total counter
saga_webhook_deliveries_total{outcome="parked"} 1
`
	names := []string{"saga_sagas_running", "saga_sagas_stuck", "saga_consumer_lag", "saga_projection_lag_events",
		"saga_step_attempts_total", "saga_sagas_started_total", "saga_webhook_deliveries_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(m.Registry(), "saga_step_duration_seconds"); err != nil || n != 1 {
		t.Errorf("step duration series = %d (%v), want 1", n, err)
	}
	remove()
	if got := gauge(t, m, "saga_sagas_running"); got != 2 {
		t.Errorf("running after a census is removed = %v, want 2", got)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// gauge is the value of the one series of the named gauge.
func gauge(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
