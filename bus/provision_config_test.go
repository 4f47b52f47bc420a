package bus

import (
	"maps"
	"testing"
	"time"
)

func TestTopicConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		spec TopicSpec
		rf   int16
		want map[string]string
	}{
		{TopicSpec{Name: "a"}, 1, map[string]string{"retention.ms": "-1"}},
		{TopicSpec{Name: "a"}, 2, map[string]string{"retention.ms": "-1"}}, // min(2, rf-1) = 1, the broker's default
		{TopicSpec{Name: "a"}, 3, map[string]string{"retention.ms": "-1", "min.insync.replicas": "2"}},
		{TopicSpec{Name: "a", Retention: time.Hour}, 3, map[string]string{"retention.ms": "3600000", "min.insync.replicas": "2"}},
		{TopicSpec{Name: "a"}, 5, map[string]string{"retention.ms": "-1", "min.insync.replicas": "2"}},
	}
	for _, c := range cases {
		got := map[string]string{}
		for k, v := range topicConfig(c.spec, c.rf, MinInsyncFor(Config{}, c.rf)) {
			got[k] = *v
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%+v, replication %d: got %v, want %v", c.spec, c.rf, got, c.want)
		}
	}
}

func TestMinInsyncFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		set, rf, want int16
	}{{0, 1, 1}, {0, 2, 1}, {0, 3, 2}, {0, 5, 2}, {3, 5, 3}, {1, 3, 1}} {
		if got := MinInsyncFor(Config{MinInsyncReplicas: c.set}, c.rf); got != c.want {
			t.Errorf("set %d, replication %d: %d, want %d", c.set, c.rf, got, c.want)
		}
	}
	got := topicConfig(TopicSpec{Name: "a"}, 5, 3)
	if v := got["min.insync.replicas"]; v == nil || *v != "3" {
		t.Errorf("a topic of 5 replicas asked for 3 in sync is created with %v", got)
	}
}
