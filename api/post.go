package api

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/tracing"
)

// publish posts a request to Kafka within the publish timeout: a broker
// that cannot take it makes the answer 503 with Retry-After, never a hang.
// The publish goroutine outlives a timed-out request only until the
// producer's own timeouts end it.
func (s *Server) publish(ctx context.Context, topic string, msg *message.Message) error {
	return s.withTimeout(ctx, func(context.Context) error { return s.pub.Publish(s.cfg.Bus.Topic(topic), msg) })
}

// withTimeout runs a call that talks to Kafka, bounded by the publish
// timeout.
func (s *Server) withTimeout(ctx context.Context, call func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	t := time.NewTimer(s.cfg.PublishTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			s.log.Warn().Err(err).Msg("api: Kafka refused a request")
			return unavailable("Kafka cannot take the request now; retry with the same Idempotency-Key", 2*time.Second)
		}
		return nil
	case <-t.C:
		return unavailable(fmt.Sprintf("Kafka did not take the request within %s; retry with the same Idempotency-Key", s.cfg.PublishTimeout), 5*time.Second)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// postEnvelope publishes a StartSaga or ResumeSaga request.
func (s *Server) postEnvelope(ctx context.Context, e events.Envelope) error {
	msg := bus.ToMessage(e)
	tracing.Inject(ctx, msg.Metadata)
	return s.publish(ctx, events.TopicRequests, msg)
}

func ended(status string) bool {
	return status == "completed" || status == "compensated" || status == "failed"
}
