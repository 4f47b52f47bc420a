package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/metrics"
)

// Deliveries are counted by outcome: one endpoint answers, the other
// fails until its delivery is parked.
func TestSenderCountsDeliveries(t *testing.T) {
	cfg := bustest.Start(t)
	cfg.Metrics = metrics.New()
	ctx := context.Background()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: events.TopicSagaLog}}); err != nil {
		t.Fatal(err)
	}
	ok := httptest.NewServer(&received{got: map[string][]string{}})
	t.Cleanup(ok.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	t.Cleanup(failing.Close)
	store, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for _, url := range []string{ok.URL, failing.URL} {
		if _, err := store.Subscribe(ctx, url, nil); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	const id = "44444444-4444-5444-8444-444444444444"
	for i, e := range []struct {
		typ     events.Type
		payload any
	}{
		{events.SagaStarted, events.SagaStartedV1{Definition: "book-ticket", IdempotencyKey: id, BookingRef: "BK-METRIC", Data: json.RawMessage(`{}`)}},
		{events.SagaCompleted, struct{}{}},
	} {
		env := events.MustNew(events.SagaEventID(id, i+1), e.typ, e.payload,
			events.Trace{SagaID: id, CorrelationID: "BK-METRIC", Actor: "orchestrator"}, id, time.Now())
		if err := pub.Publish(cfg.Topic(events.TopicSagaLog), bus.ToMessage(env)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewSender(Config{Bus: cfg, Store: store, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
		Poll: 10 * time.Millisecond, Backoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Horizon: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	count := func(outcome string) float64 {
		n, _ := gatherOutcome(cfg.Metrics, outcome)
		return n
	}
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		return count(metrics.WebhookParked) == 1, "no parked delivery yet"
	})
	if got := count(metrics.WebhookDelivered); got != 1 {
		t.Errorf("delivered = %v, want 1", got)
	}
	if got := count(metrics.WebhookFailed); got < 1 {
		t.Errorf("failed = %v, want the retries before parking", got)
	}
	if problems, err := testutil.GatherAndLint(cfg.Metrics.Registry(), "saga_webhook_deliveries_total"); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func gatherOutcome(m *metrics.Metrics, outcome string) (float64, error) {
	fams, err := m.Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, f := range fams {
		if f.GetName() != "saga_webhook_deliveries_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return s.GetCounter().GetValue(), nil
				}
			}
		}
	}
	return 0, nil
}
