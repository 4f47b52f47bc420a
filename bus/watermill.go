package bus

import (
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Subscriber timing. watermill-kafka redelivers a nacked message to the
// same handler after nackResendSleep, blocking its partition meanwhile;
// after a broken consumer session it reconnects every reconnectSleep.
const (
	nackResendSleep = 100 * time.Millisecond
	reconnectSleep  = time.Second
)

// NewPublisher returns a synchronous Watermill publisher: Publish returns
// only after every in-sync replica has the records. Topic names passed to
// Publish must already be mapped through cfg.Topic.
func NewPublisher(cfg Config, logger watermill.LoggerAdapter) (message.Publisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:               cfg.Brokers,
		Marshaler:             MarshalerFor(cfg),
		OverwriteSaramaConfig: conf,
	}, logger)
	if err != nil {
		return nil, unreachable(cfg, fmt.Errorf("create publisher: %w", err))
	}
	return namedPublisher{pub}, nil
}

// NewSubscriber returns a Watermill subscriber in consumer group
// cfg.Group(group); group "" reads every partition from the oldest record
// without a group (nothing is committed). Topic names passed to Subscribe
// must already be mapped through cfg.Topic.
//
// Delivery is at-least-once: an offset is committed only after the handler
// Acks the message (synchronously, one commit per Ack), each partition
// delivers its next message only after the previous one was acked, and a
// Nack redelivers the same message. Messages not acked when the process
// dies are delivered again.
func NewSubscriber(cfg Config, group string, logger watermill.LoggerAdapter) (message.Subscriber, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	// watermill-kafka marks an offset only on Ack; with auto-commit off it
	// also commits right then, so "acked" means "committed" and a restart
	// replays only what was not acked (instead of up to 1s of acked work).
	conf.Consumer.Offsets.AutoCommit.Enable = false
	var groupName string
	if group != "" {
		groupName = cfg.Group(group)
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers:               cfg.Brokers,
		Unmarshaler:           Marshaler{},
		OverwriteSaramaConfig: conf,
		ConsumerGroup:         groupName,
		NackResendSleep:       nackResendSleep,
		ReconnectRetrySleep:   reconnectSleep,
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("bus: create subscriber: %w", err)
	}
	return sub, nil
}
