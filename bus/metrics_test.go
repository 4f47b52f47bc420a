package bus_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	dto "github.com/prometheus/client_model/go"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/metrics"
)

// A group's lag is the records it has not committed, and falls to 0 once
// it has handled them; a poison message is counted by its reason's code.
func TestGroupLagAndDeadLettersInMetrics(t *testing.T) {
	cfg := bustestStart(t)
	cfg.Metrics = metrics.New()
	provision(t, cfg, bus.TopicSpec{Name: "work", Partitions: 2}, bus.TopicSpec{Name: "dlq"})
	const n = 6
	for i := range n {
		publish(t, cfg, cfg.Topic("work"), keyed(string(rune('a'+i)), "job"))
	}
	publish(t, cfg, cfg.Topic("work"), keyed("z", "poison"))

	gate := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	g := bus.Group{Name: "lagging",
		Handlers: map[string]message.NoPublishHandlerFunc{"work": func(msg *message.Message) error {
			<-gate
			if string(msg.Payload) == "poison" {
				return events.Malformed("a payment token tok_123 in free text")
			}
			return nil
		}},
		Options: bus.ConsumerOptions{DLQTopic: "dlq", Poison: func(err error) bool { return err != nil }},
	}
	go func() { done <- g.Run(ctx, cfg, pub, watermill.NopLogger{}) }()
	defer func() {
		cancel()
		<-done
	}()

	// Nothing is handled while the gate is shut: every record is behind.
	bustestEventually(t, 30*time.Second, func() (bool, string) {
		lag := totalLag(t, cfg.Metrics)
		return lag == n+1, "lag " + itoa(lag)
	})
	close(gate)
	bustestEventually(t, 30*time.Second, func() (bool, string) {
		lag := totalLag(t, cfg.Metrics)
		return lag == 0, "lag " + itoa(lag)
	})
	fams := gather(t, cfg.Metrics)
	dl := fams["saga_dlq_messages_total"].GetMetric()
	if len(dl) != 1 || dl[0].GetCounter().GetValue() != 1 || labelOf(dl[0], "reason") != "malformed" || labelOf(dl[0], "topic") != "work" {
		t.Errorf("dead letters = %v, want one of topic work, reason malformed", dl)
	}
}

func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// totalLag sums saga_consumer_lag of group "lagging"; -1 without series.
func totalLag(t *testing.T, m *metrics.Metrics) int {
	series := gather(t, m)["saga_consumer_lag"].GetMetric()
	if len(series) == 0 {
		return -1
	}
	sum := 0
	for _, s := range series {
		if labelOf(s, "group") == "lagging" && labelOf(s, "topic") == "work" {
			sum += int(s.GetGauge().GetValue())
		}
	}
	return sum
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
