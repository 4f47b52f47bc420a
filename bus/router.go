package bus

import (
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Handler consumes one topic in one consumer group.
type Handler struct {
	Name  string
	Topic string // unprefixed: the router applies the config's namespace
	Group string // unprefixed
	Func  message.NoPublishHandlerFunc
}

// RouterOptions say where messages that can never be processed go.
type RouterOptions struct {
	// DLQTopic is the unprefixed dead-letter topic.
	DLQTopic string
	// Poison reports whether an error means the message can never be
	// processed. Such messages, and messages whose handler panicked, move
	// to the dead-letter topic with the reason in their headers, so they
	// never block their partition; other errors are retried.
	Poison func(error) bool
}

// NewRouter builds a watermill router consuming the given handlers with
// the middleware every consumer of the product uses: dead letters for
// poison messages, retries with backoff for transient errors, and panic
// recovery. Offsets are committed only after a handler returns nil.
func NewRouter(cfg Config, pub message.Publisher, logger watermill.LoggerAdapter, opts RouterOptions, handlers ...Handler) (*message.Router, error) {
	if opts.DLQTopic == "" || opts.Poison == nil {
		return nil, errors.New("router needs a dead-letter topic and a poison test")
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, logger)
	if err != nil {
		return nil, err
	}
	poison := func(err error) bool {
		var p middleware.RecoveredPanicError
		return errors.As(err, &p) || opts.Poison(err)
	}
	dlq, err := middleware.PoisonQueueWithFilter(pub, cfg.Topic(opts.DLQTopic), poison)
	if err != nil {
		return nil, err
	}
	retry := middleware.Retry{
		MaxRetries:          8,
		InitialInterval:     100 * time.Millisecond,
		MaxInterval:         5 * time.Second,
		Multiplier:          2,
		RandomizationFactor: 0.2,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !poison(p.Err) },
		Logger:              logger,
	}
	// The first middleware is the outermost: dead letters see the final
	// error after retries; the recoverer turns panics into errors first.
	router.AddMiddleware(dlq, retry.Middleware, middleware.Recoverer)
	for _, h := range handlers {
		sub, err := NewSubscriber(cfg, h.Group, logger)
		if err != nil {
			return nil, fmt.Errorf("subscriber for %s: %w", h.Name, err)
		}
		router.AddConsumerHandler(h.Name, cfg.Topic(h.Topic), sub, logPoison(h.Func, poison, logger))
	}
	return router, nil
}

// logPoison logs a message that is about to be dead-lettered, with the
// headers that trace it, so an operator sees it without reading the topic.
func logPoison(h message.NoPublishHandlerFunc, poison func(error) bool, logger watermill.LoggerAdapter) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		err := h(msg)
		if err != nil && poison(err) {
			logger.Error("message moved to the dead-letter topic", err, watermill.LogFields{
				"message_id": msg.UUID, "type": msg.Metadata.Get("type"), "saga_id": msg.Metadata.Get("saga_id"),
				"correlation_id": msg.Metadata.Get("correlation_id"), "kafka_topic": msg.Metadata.Get("kafka_topic"),
				"kafka_partition": msg.Metadata.Get("kafka_partition"), "kafka_offset": msg.Metadata.Get("kafka_offset"),
			})
		}
		return err
	}
}
