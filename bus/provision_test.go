package bus_test

import (
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

func TestProvisionIsIdempotentAndSetsRetention(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	specs := []bus.TopicSpec{
		{Name: "saga.events"},
		{Name: "saga.ephemeral", Partitions: 2, Retention: time.Hour},
	}
	provision(t, cfg, specs...)
	provision(t, cfg, specs...) // second run: topics exist, still fine

	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	want := map[string]struct {
		parts     int
		retention string
	}{
		cfg.Topic("saga.events"):    {4, "-1"},
		cfg.Topic("saga.ephemeral"): {2, "3600000"},
	}
	metas, err := admin.DescribeTopics([]string{cfg.Topic("saga.events"), cfg.Topic("saga.ephemeral")})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metas {
		w := want[m.Name]
		if m.Err != sarama.ErrNoError || len(m.Partitions) != w.parts {
			t.Errorf("%s: err %v, %d partitions, want %d", m.Name, m.Err, len(m.Partitions), w.parts)
		}
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"retention.ms"}}) //nolint:staticcheck // one topic: the single-resource call reads plainer here
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, e := range entries {
			if e.Name == "retention.ms" {
				got = e.Value
			}
		}
		if got != w.retention {
			t.Errorf("%s retention.ms = %q, want %q", m.Name, got, w.retention)
		}
	}
}

func TestProvisionRejectsBadSpecsTogether(t *testing.T) {
	t.Parallel()
	err := bus.Provision(t.Context(), bus.Config{Brokers: []string{"127.0.0.1:1"}}, []bus.TopicSpec{
		{Name: "a b"}, {Name: "ok", Partitions: -1}, {Name: "ok"},
	})
	if err == nil {
		t.Fatal("expected validation errors")
	}
	for _, want := range []string{"invalid character", "partitions", "twice"} {
		if !contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
}
