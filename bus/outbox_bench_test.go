package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// BenchmarkOutboxRounds times one handler's writes, a log record and the
// message it causes, on the embedded broker: written log first (two
// rounds) and in one round (bus.Group.OneRound). It prints; it asserts
// nothing about speed.
func BenchmarkOutboxRounds(b *testing.B) {
	cfg := bustest.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: "log"}, {Name: "send"}}); err != nil {
		b.Fatal(err)
	}
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pub.Close()
	for _, bc := range []struct {
		name     string
		together bool
	}{{"log-then-send", false}, {"one-round", true}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				o := &bus.Outbox{}
				key := uuid.NewString()
				for phase, topic := range []string{"log", "send"} {
					m := message.NewMessage(uuid.NewString(), []byte(`{"step":"ReserveSeats"}`))
					m.Metadata.Set(bus.MetaKey, key)
					o.Add(phase, cfg.Topic(topic), m)
				}
				if err := bus.FlushOutbox(o, pub, bc.together); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
