package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagaflow/saga/bus"
)

// On three brokers topics are created with two replicas in sync, and a
// topic made before with Kafka's default of one is warned of at start.
func TestMinInsyncOnThreeBrokers(t *testing.T) {
	t.Parallel()
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := bus.Config{Brokers: c.ListenAddrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: "made"}}); err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic("old", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}
	warnings, err := bus.CheckMinInsync(ctx, cfg, []string{"made", "old"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "topic old has min.insync.replicas=1 with 3 replicas") ||
		!strings.Contains(warnings[0], "min.insync.replicas=2") {
		t.Fatalf("warnings %q, want one about topic old", warnings)
	}
	cfg.MinInsyncReplicas = 4
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: "other"}}); err == nil || !strings.Contains(err.Error(), "no write could be acknowledged") {
		t.Fatalf("four in sync of three replicas: %v", err)
	}
}
