package participant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// Config configures the runtime of one participant.
type Config struct {
	Bus     bus.Config
	Log     zerolog.Logger
	Service Service
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Runtime runs one participant service against Kafka.
type Runtime struct {
	cfg Config
	log zerolog.Logger
	pub message.Publisher

	mu sync.Mutex
	// handled maps each command id the service has applied to its answer.
	handled map[string]events.Handled
}

// New returns a runtime for cfg.Service; Run starts it.
func New(cfg Config) (*Runtime, error) {
	if cfg.Service == nil {
		return nil, errors.New("participant runtime needs a service")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Bus.Validate(); err != nil {
		return nil, err
	}
	return &Runtime{cfg: cfg, handled: map[string]events.Handled{},
		log: cfg.Log.With().Str("service", cfg.Service.Name()).Logger()}, nil
}

// Run folds the service's own log into its state, then consumes commands
// until ctx ends.
func (r *Runtime) Run(ctx context.Context) error {
	wlog := bus.NewWatermillLogger(r.log)
	pub, err := bus.NewPublisher(r.cfg.Bus, wlog)
	if err != nil {
		return fmt.Errorf("%s publisher: %w", r.cfg.Service.Name(), err)
	}
	defer pub.Close()
	r.pub = pub
	if err := r.recover(ctx); err != nil {
		return err
	}
	name := r.cfg.Service.Name()
	router, err := bus.NewRouter(r.cfg.Bus, pub, wlog, bus.RouterOptions{DLQTopic: events.TopicDLQ, Poison: isPoison},
		bus.Handler{Name: name + "-commands", Topic: events.CommandTopic(name), Group: name, Func: r.handle})
	if err != nil {
		return err
	}
	return router.Run(ctx)
}

func isPoison(err error) bool { return errors.Is(err, events.ErrMalformed) }

func (r *Runtime) recover(ctx context.Context) error {
	n := 0
	err := bus.ReadAll(ctx, r.cfg.Bus, r.cfg.Bus.Topic(events.DomainTopic(r.cfg.Service.Name())), func(rec bus.Record) error {
		e, err := events.FromHeaders("", rec.Headers, rec.Value)
		if err == nil {
			e, err = events.Check(e)
		}
		if err != nil {
			r.log.Error().Err(err).Int32("partition", rec.Partition).Int64("offset", rec.Offset).Msg("skipping unreadable domain event")
			return nil
		}
		h, err := handledOf(e)
		if err != nil {
			r.log.Error().Err(err).Msg("skipping domain event without its command")
			return nil
		}
		if _, dup := r.handled[h.CommandID]; dup {
			return nil // a retried append wrote it twice
		}
		if err := r.cfg.Service.Apply(e); err != nil {
			return fmt.Errorf("fold %s: %w", e.Type, err)
		}
		r.handled[h.CommandID] = h
		n++
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover %s from its log: %w", r.cfg.Service.Name(), err)
	}
	r.log.Info().Int("events", n).Msg("recovered state from the domain log")
	return nil
}

func handledOf(e events.Envelope) (events.Handled, error) {
	var h events.Handled
	if err := json.Unmarshal(e.Payload, &h); err != nil {
		return h, err
	}
	return h, h.Validate()
}

// handle applies a command at most once: a command id seen before gets the
// original reply again and changes nothing. The domain event is written
// before the reply, so a crash in between is repaired by redelivery.
func (r *Runtime) handle(msg *message.Message) error {
	cmd, err := events.FromMessage(msg)
	if err == nil {
		cmd, err = events.Check(cmd)
	}
	if err != nil {
		return err
	}
	if cmd.SagaID == "" {
		return events.Malformed("command without %s header", events.HeaderSagaID)
	}
	p, err := events.Decode[events.CommandV1](cmd)
	if err != nil {
		return err
	}
	log := r.log.With().Str("saga_id", cmd.SagaID).Str("correlation_id", cmd.CorrelationID).
		Str("actor", cmd.Actor).Str("command", cmd.Type).Str("command_id", cmd.ID).Int("attempt", p.Attempt).Logger()

	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.handled[cmd.ID]; ok {
		log.Info().Str("outcome", h.Outcome).Msg("command seen before; replying again")
		return r.reply(cmd, h)
	}
	ev, ok, err := r.cfg.Service.Handle(cmd, p, r.cfg.Now())
	if err != nil {
		return err
	}
	if !ok {
		log.Warn().Msg("command dropped by the service")
		return nil
	}
	h, err := handledOf(ev)
	if err != nil {
		return fmt.Errorf("%s produced %s without its outcome: %w", r.cfg.Service.Name(), ev.Type, err)
	}
	topic := r.cfg.Bus.Topic(events.DomainTopic(r.cfg.Service.Name()))
	if err := r.pub.Publish(topic, events.ToMessage(ev)); err != nil {
		return fmt.Errorf("append %s: %w", ev.Type, err)
	}
	if err := r.cfg.Service.Apply(ev); err != nil {
		return fmt.Errorf("apply own %s: %w", ev.Type, err)
	}
	r.handled[cmd.ID] = h
	log.Info().Str("event", ev.Type).Str("outcome", h.Outcome).Str("reason", h.Reason).Msg("command handled")
	return r.reply(cmd, h)
}

func (r *Runtime) reply(cmd events.Envelope, h events.Handled) error {
	p := events.StepReplyV1{CommandID: cmd.ID, Command: cmd.Type, Outcome: h.Outcome, Reason: h.Reason, Data: h.Reply}
	e, err := events.New(events.DerivedID(cmd.ID, "reply"), events.StepReply, p, events.TraceOf(cmd), cmd.SagaID, r.cfg.Now())
	if err != nil {
		return err
	}
	if err := r.pub.Publish(r.cfg.Bus.Topic(events.TopicReplies), events.ToMessage(e)); err != nil {
		return fmt.Errorf("reply to %s: %w", cmd.Type, err)
	}
	return nil
}
