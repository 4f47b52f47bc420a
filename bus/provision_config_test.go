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
		{TopicSpec{Name: "a"}, 2, map[string]string{"retention.ms": "-1"}},
		{TopicSpec{Name: "a"}, 3, map[string]string{"retention.ms": "-1", "min.insync.replicas": "2"}},
		{TopicSpec{Name: "a", Retention: time.Hour}, 3, map[string]string{"retention.ms": "3600000", "min.insync.replicas": "2"}},
		{TopicSpec{Name: "a"}, 5, map[string]string{"retention.ms": "-1", "min.insync.replicas": "2"}},
	}
	for _, c := range cases {
		got := map[string]string{}
		for k, v := range topicConfig(c.spec, c.rf) {
			got[k] = *v
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%+v, replication %d: got %v, want %v", c.spec, c.rf, got, c.want)
		}
	}
}
