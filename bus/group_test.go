package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// member is one running member of a test consumer group.
type member struct {
	mu     sync.Mutex
	owned  []int32
	seen   []string
	cancel context.CancelFunc
	done   chan error
}

func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.owned)
}

// startMember runs a member whose OnAssigned takes setup long, like
// loading state.
func startMember(t *testing.T, cfg bus.Config, topic string, pub message.Publisher, setup time.Duration) *member {
	m := &member{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	g := bus.Group{
		Name: "g",
		Handlers: map[string]message.NoPublishHandlerFunc{topic: func(msg *message.Message) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.seen = append(m.seen, string(msg.Payload))
			return nil
		}},
		OnAssigned: func(_ context.Context, c bus.Claims) error {
			// A slow recovery, injected on purpose.
			time.Sleep(setup)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.owned = c.Partitions()
			slices.Sort(m.owned)
			return nil
		},
		OnRevoked: func(bus.Claims) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.owned = nil
		},
		Options: bus.ConsumerOptions{DLQTopic: "dlq", Poison: func(error) bool { return false }},
	}
	go func() { m.done <- g.Run(ctx, cfg, pub, watermill.NopLogger{}) }()
	t.Cleanup(m.stop)
	return m
}

func (m *member) stop() {
	m.cancel()
	<-m.done
	m.done <- nil // a second stop returns at once
}

// Two members share the partitions; when one leaves the other owns them
// all and handles every message, those sent before and after.
func TestGroupSharesPartitionsAndHandsThemOver(t *testing.T) {
	cfg := bustest.Start(t)
	provision(t, cfg, bus.TopicSpec{Name: "work", Partitions: 4}, bus.TopicSpec{Name: "dlq"})
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	a := startMember(t, cfg, "work", pub, setupTime)
	b := startMember(t, cfg, "work", pub, setupTime)
	bustest.Eventually(t, 60*time.Second, func() (bool, string) {
		pa, pb := a.partitions(), b.partitions()
		return len(pa) == 2 && len(pb) == 2, fmt.Sprintf("a owns %v, b owns %v", pa, pb)
	})
	a.stop()
	bustest.Eventually(t, 60*time.Second, func() (bool, string) {
		pb := b.partitions()
		return len(pb) == 4, fmt.Sprintf("b owns %v after a left", pb)
	})
	for i := range 20 {
		msg := message.NewMessage(fmt.Sprint(i), []byte(fmt.Sprint(i)))
		msg.Metadata.Set(bus.MetaKey, fmt.Sprintf("k%d", i))
		if err := pub.Publish(cfg.Topic("work"), msg); err != nil {
			t.Fatal(err)
		}
	}
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.seen) == 20, fmt.Sprintf("b handled %d of 20", len(b.seen))
	})
}

// setupTime is how long each member takes to load the state of what it is
// given: the hand-over must wait for it, not lose messages during it.
var setupTime = 2 * time.Second
