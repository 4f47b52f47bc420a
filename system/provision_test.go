package system_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

// Topics created by hand with other partition counts would split a saga's
// messages across owners: starting refuses them.
func TestProvisionRefusesTopicsPartitionedApart(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := context.Background()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: events.TopicReplies, Partitions: 2}}); err != nil {
		t.Fatal(err)
	}
	err := system.Provision(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "same number of partitions") {
		t.Fatalf("provision with saga.replies on 2 partitions: %v, want a refusal", err)
	}
}

// Provisioning is idempotent and gives every topic the configured count,
// or its own.
func TestProvisionTwice(t *testing.T) {
	cfg := bustest.Start(t)
	cfg.Partitions = 3
	for range 2 {
		if err := system.Provision(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	for _, spec := range system.Topics() {
		want := int32(3)
		if spec.Partitions > 0 {
			want = spec.Partitions
		}
		n, err := bus.PartitionCount(context.Background(), cfg, cfg.Topic(spec.Name))
		if err != nil || n != want {
			t.Errorf("%s has %d partitions (%v), want %d", spec.Name, n, err, want)
		}
	}
}

// A service declared in configuration gets its topics, partitioned as the
// others are.
func TestProvisionCreatesDeclaredServicesTopics(t *testing.T) {
	if err := events.Declare([]events.ServiceDecl{{Name: "hotel", Commands: []events.CommandDecl{{Name: "ReserveRoom"}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	cfg := bustest.Start(t)
	cfg.Partitions = 2
	if err := system.Provision(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"hotel.commands", "hotel.events"} {
		n, err := bus.PartitionCount(context.Background(), cfg, cfg.Topic(topic))
		if err != nil || n != 2 {
			t.Errorf("%s has %d partitions (%v), want 2", topic, n, err)
		}
	}
}
