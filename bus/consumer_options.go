package bus

import (
	"errors"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// ConsumerOptions say where the messages a consumer can never process go.
type ConsumerOptions struct {
	// DLQTopic is the unprefixed dead-letter topic.
	DLQTopic string
	// Poison reports whether an error means the message can never be
	// processed. Such messages, and messages whose handler panicked, move
	// to the dead-letter topic with the reason in their headers, so they
	// never block their partition; other errors are retried.
	Poison func(error) bool
}

func (o ConsumerOptions) isPoison(err error) bool {
	var p middleware.RecoveredPanicError
	return errors.As(err, &p) || o.Poison(err)
}

// logPoison logs a message that is about to be dead-lettered, with the
// headers that trace it, so an operator sees it without reading the topic.
func logPoison(h message.NoPublishHandlerFunc, opts ConsumerOptions, logger watermill.LoggerAdapter) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		err := h(msg)
		if err != nil && opts.isPoison(err) {
			logger.Error("message moved to the dead-letter topic", err, watermill.LogFields{
				"message_id": msg.UUID, "type": msg.Metadata.Get("type"), "saga_id": msg.Metadata.Get("saga_id"),
				"correlation_id": msg.Metadata.Get("correlation_id"), "kafka_topic": msg.Metadata.Get(MetaTopic),
				"kafka_partition": msg.Metadata.Get(MetaPartition), "kafka_offset": msg.Metadata.Get(MetaOffset),
			})
		}
		return nil, err
	}
}
