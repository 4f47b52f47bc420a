package bus_test

import (
	"testing"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

func TestZZReplicationAuto(t *testing.T) {
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "rf"})
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, bus.SaramaConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics([]string{cfg.Topic("rf")})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replicas of p0: %v", metas[0].Partitions[0].Replicas)
}
