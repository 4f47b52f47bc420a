package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Config configures an orchestrator.
type Config struct {
	Bus bus.Config
	Log zerolog.Logger
	// Tick is how often deadlines and scheduled retries are checked.
	Tick time.Duration
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Definitions are the sagas it runs; the shipped ones by default.
	Definitions saga.Definitions
}

func (c *Config) setDefaults() {
	if c.Tick <= 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Definitions == nil {
		c.Definitions = flows.All()
	}
}

// Orchestrator drives sagas: one per process, or several in one consumer
// group sharing the saga partitions.
type Orchestrator struct {
	cfg     Config
	machine saga.Machine
	store   *store
	pub     message.Publisher
	log     zerolog.Logger

	// outbox holds commands whose sending failed after their saga events
	// were appended; the ticker sends them again.
	outboxMu sync.Mutex
	outbox   []saga.Outgoing
}

// New returns an orchestrator; Run starts it.
func New(cfg Config) (*Orchestrator, error) {
	cfg.setDefaults()
	if err := cfg.Bus.Validate(); err != nil {
		return nil, err
	}
	return &Orchestrator{cfg: cfg, machine: saga.NewMachine(cfg.Definitions), store: newStore(),
		log: cfg.Log.With().Str("service", "orchestrator").Logger()}, nil
}

// Run recovers the running sagas from the saga log, re-sends the commands
// they await, and then consumes requests and replies until ctx ends.
func (o *Orchestrator) Run(ctx context.Context) error {
	wlog := bus.NewWatermillLogger(o.log)
	pub, err := bus.NewPublisher(o.cfg.Bus, wlog)
	if err != nil {
		return fmt.Errorf("orchestrator publisher: %w", err)
	}
	defer pub.Close()
	o.pub = pub

	started := time.Now()
	if err := o.recover(ctx); err != nil {
		return err
	}
	running, ended := o.store.counts()
	o.log.Info().Int("running", running).Int("ended", ended).Dur("took", time.Since(started)).Msg("recovered sagas from the log")

	router, err := bus.NewRouter(o.cfg.Bus, pub, wlog, bus.RouterOptions{DLQTopic: events.TopicDLQ, Poison: isPoison},
		bus.Handler{Name: "saga-requests", Topic: events.TopicRequests, Group: "orchestrator-requests", Func: o.handleRequest},
		bus.Handler{Name: "saga-replies", Topic: events.TopicReplies, Group: "orchestrator-replies", Func: o.handleReply},
	)
	if err != nil {
		return err
	}
	go o.tickLoop(ctx)
	return router.Run(ctx)
}

func isPoison(err error) bool { return errors.Is(err, events.ErrMalformed) }

// recover folds the saga log into the store and re-sends in-flight commands
// (a crash may have come between appending an event and sending its command).
func (o *Orchestrator) recover(ctx context.Context) error {
	states := map[string]saga.State{}
	err := bus.ReadAll(ctx, o.cfg.Bus, o.cfg.Bus.Topic(events.TopicSagaLog), func(r bus.Record) error {
		e, err := events.FromHeaders("", r.Headers, r.Value)
		if err == nil {
			e, err = events.Check(e)
		}
		if err != nil {
			o.log.Error().Err(err).Int32("partition", r.Partition).Int64("offset", r.Offset).Msg("skipping unreadable saga log record")
			return nil
		}
		next, _, err := o.machine.Fold(states[e.SagaID], e)
		if err != nil {
			o.log.Error().Err(err).Str("saga_id", e.SagaID).Msg("skipping saga log event that does not fold")
			return nil
		}
		states[e.SagaID] = next
		return nil
	})
	if err != nil {
		return fmt.Errorf("recover from the saga log: %w", err)
	}
	now := o.cfg.Now()
	for _, s := range states {
		o.store.put(s)
		if !s.Status.Terminal() {
			o.send(ctx, s, o.machine.InFlight(s, now))
		}
	}
	return nil
}

func (o *Orchestrator) handleRequest(msg *message.Message) error {
	e, err := checked(msg)
	if err != nil {
		return err
	}
	if e.Type != events.StartSaga {
		return events.Malformed("%s carries %s, not %s", events.TopicRequests, e.Type, events.StartSaga)
	}
	p, err := events.Decode[events.StartSagaV1](e)
	if err != nil {
		return err
	}
	return o.process(msg.Context(), events.SagaIDFor(p.IdempotencyKey), saga.Start{Request: e, Payload: p})
}

func (o *Orchestrator) handleReply(msg *message.Message) error {
	e, err := checked(msg)
	if err != nil {
		return err
	}
	if e.Type != events.StepReply {
		return events.Malformed("%s carries %s, not %s", events.TopicReplies, e.Type, events.StepReply)
	}
	if e.SagaID == "" {
		return events.Malformed("reply without %s header", events.HeaderSagaID)
	}
	p, err := events.Decode[events.StepReplyV1](e)
	if err != nil {
		return err
	}
	return o.process(msg.Context(), e.SagaID, saga.Reply{Envelope: e, Payload: p})
}

func checked(msg *message.Message) (events.Envelope, error) {
	e, err := events.FromMessage(msg)
	if err != nil {
		return e, err
	}
	return events.Check(e)
}

// process decides on one input for one saga: the events are appended to the
// saga log first, and only then applied and their commands sent. A crash
// after the append is repaired by recovery, which re-sends in-flight commands.
func (o *Orchestrator) process(ctx context.Context, sagaID string, in saga.Input) error {
	unlock := o.store.lock(sagaID)
	defer unlock()
	s, ended := o.store.get(sagaID)
	if ended {
		return nil
	}
	evs, err := o.machine.Decide(s, in, o.cfg.Now())
	if err != nil || len(evs) == 0 {
		return err
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		msgs[i] = events.ToMessage(e)
	}
	if err := o.pub.Publish(o.cfg.Bus.Topic(events.TopicSagaLog), msgs...); err != nil {
		return fmt.Errorf("append to the saga log: %w", err)
	}
	var out []saga.Outgoing
	for _, e := range evs {
		if s, err = o.machine.Apply(s, e); err != nil {
			return fmt.Errorf("apply own event: %w", err)
		}
		o.logEvent(s, e)
		if c, ok := o.machine.Command(s, e); ok {
			out = append(out, c)
		}
	}
	o.store.put(s)
	o.send(ctx, s, out)
	return nil
}

func (o *Orchestrator) logEvent(s saga.State, e events.Envelope) {
	ev := o.log.Info()
	if e.Type == events.StepFailed || e.Type == events.StepTimedOut || e.Type == events.CompensationFailed || e.Type == events.SagaFailed {
		ev = o.log.Warn()
	}
	ev.Str("saga_id", s.SagaID).Str("correlation_id", s.BookingRef).Str("actor", s.Actor).
		Str("definition", s.Definition).Str("status", string(s.Status)).RawJSON("payload", e.Payload).Msg(e.Type)
}

// send publishes commands; what cannot be sent now waits in the outbox.
func (o *Orchestrator) send(_ context.Context, s saga.State, cmds []saga.Outgoing) {
	for i, c := range cmds {
		if err := o.pub.Publish(o.cfg.Bus.Topic(c.Topic), events.ToMessage(c.Envelope)); err != nil {
			o.log.Warn().Err(err).Str("saga_id", s.SagaID).Str("correlation_id", s.BookingRef).Str("command", c.Envelope.Type).Msg("command not sent; will retry")
			o.outboxMu.Lock()
			o.outbox = append(o.outbox, cmds[i:]...)
			o.outboxMu.Unlock()
			return
		}
	}
}

// tickLoop lets time act on sagas: passed deadlines and due retries.
func (o *Orchestrator) tickLoop(ctx context.Context) {
	t := time.NewTicker(o.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.flushOutbox(ctx)
		for _, id := range o.store.due(o.cfg.Now()) {
			if err := o.process(ctx, id, saga.Tick{}); err != nil {
				o.log.Warn().Err(err).Str("saga_id", id).Msg("tick failed; will retry")
			}
		}
	}
}

func (o *Orchestrator) flushOutbox(ctx context.Context) {
	o.outboxMu.Lock()
	cmds := o.outbox
	o.outbox = nil
	o.outboxMu.Unlock()
	for _, c := range cmds {
		o.send(ctx, saga.State{SagaID: c.Envelope.SagaID, BookingRef: c.Envelope.CorrelationID}, []saga.Outgoing{c})
	}
}
