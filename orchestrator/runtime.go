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
	// Decorate, when set, wraps the publisher (tests use it to duplicate
	// and reorder what is sent).
	Decorate message.PublisherDecorator
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
	// ticking is held by the tick loop while it decides, and shared by the
	// batches of consumed messages: a batch's decisions are in the store
	// before they are in the log, and a tick must not decide on them then.
	ticking sync.RWMutex
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

// Run consumes requests and replies as a member of the orchestrators'
// consumer group until ctx ends. Whenever it is given partitions it
// rebuilds their sagas from the saga log and re-sends the commands they
// await; several orchestrators thus share the sagas, and one that dies
// hands its sagas to the others.
func (o *Orchestrator) Run(ctx context.Context) error {
	wlog := bus.NewWatermillLogger(o.log)
	batcher, err := bus.NewBatchPublisher(o.cfg.Bus)
	if err != nil {
		return fmt.Errorf("orchestrator publisher: %w", err)
	}
	defer batcher.Close()
	var pub message.Publisher = batcher
	if o.cfg.Decorate != nil {
		if pub, err = o.cfg.Decorate(pub); err != nil {
			return err
		}
	}
	o.pub = pub
	go o.tickLoop(ctx)
	return bus.Group{
		Name: "orchestrator",
		// saga.requests and saga.replies are keyed by saga id and have as
		// many partitions as saga.events: partition p of each holds the
		// same sagas, so the member given p owns those sagas whole.
		Handlers:   map[string]message.NoPublishHandlerFunc{events.TopicRequests: o.handleRequest, events.TopicReplies: o.handleReply},
		OnAssigned: o.assigned,
		OnRevoked:  func(bus.Claims) { o.store.reset() },
		Options:    bus.ConsumerOptions{DLQTopic: events.TopicDLQ, Poison: isPoison},
		Exclusive:  &o.ticking,
	}.Run(ctx, o.cfg.Bus, pub, wlog)
}

func isPoison(err error) bool { return errors.Is(err, events.ErrMalformed) }

// assigned folds the saga log partitions this member now owns into the
// store and re-sends in-flight commands (a crash, or the member that had
// the partition, may have stopped between appending an event and sending
// its command).
func (o *Orchestrator) assigned(ctx context.Context, claims bus.Claims) error {
	started := time.Now()
	epoch := o.store.reset()
	states := map[string]saga.State{}
	for _, p := range claims.Partitions() {
		err := bus.ReadPartition(ctx, o.cfg.Bus, o.cfg.Bus.Topic(events.TopicSagaLog), p, 0, func(r bus.Record) error {
			o.fold(states, r)
			return nil
		})
		if err != nil {
			return fmt.Errorf("recover saga log partition %d: %w", p, err)
		}
	}
	now := o.cfg.Now()
	for _, s := range states {
		o.store.put(s, epoch)
		if !s.Status.Terminal() {
			o.send(s, o.machine.InFlight(s, now))
		}
	}
	running, ended := o.store.counts()
	o.log.Info().Ints32("partitions", claims.Partitions()).Int("running", running).Int("ended", ended).
		Dur("took", time.Since(started)).Msg("recovered sagas from the log")
	return nil
}

func (o *Orchestrator) fold(states map[string]saga.State, r bus.Record) {
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err == nil {
		e, err = events.Check(e)
	}
	if err != nil {
		o.log.Error().Err(err).Int32("partition", r.Partition).Int64("offset", r.Offset).Msg("skipping unreadable saga log record")
		return
	}
	next, _, err := o.machine.Fold(states[e.SagaID], e)
	if err != nil {
		o.log.Error().Err(err).Str("saga_id", e.SagaID).Msg("skipping saga log event that does not fold")
		return
	}
	states[e.SagaID] = next
}

func (o *Orchestrator) handleRequest(msg *message.Message) error {
	e, err := checked(msg)
	if err != nil {
		return err
	}
	if e.Type == events.ResumeSaga {
		if e.SagaID == "" {
			return events.Malformed("%s without %s header", events.ResumeSaga, events.HeaderSagaID)
		}
		p, err := events.Decode[events.ResumeSagaV1](e)
		if err != nil {
			return err
		}
		return o.process(msg.Context(), e.SagaID, saga.Resume{Request: e, Reason: p.Reason})
	}
	if e.Type != events.StartSaga {
		return events.Malformed("%s carries %s or %s, not %s", events.TopicRequests, events.StartSaga, events.ResumeSaga, e.Type)
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
// saga log first, and only then their commands sent. Within a batch of
// consumed messages both wait in the batch's outbox, which is written log
// first; a crash before it is written redelivers the batch, and a crash
// between its phases is repaired by recovery, which re-sends in-flight
// commands.
func (o *Orchestrator) process(ctx context.Context, sagaID string, in saga.Input) error {
	unlock := o.store.lock(sagaID)
	defer unlock()
	s, ended, epoch := o.store.get(sagaID)
	if ended {
		return nil
	}
	d, err := o.machine.Next(s, in, o.cfg.Now())
	if err != nil || len(d.Events) == 0 {
		return err
	}
	evs, out := d.Events, d.Commands
	for _, e := range evs {
		o.logEvent(d.State, e)
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		msgs[i] = events.ToMessage(e)
	}
	if box := bus.OutboxFrom(ctx); box != nil {
		box.Add(bus.PhaseLog, o.cfg.Bus.Topic(events.TopicSagaLog), msgs...)
		for _, c := range out {
			box.Add(bus.PhaseSend, o.cfg.Bus.Topic(c.Topic), events.ToMessage(c.Envelope))
		}
	} else {
		if err := o.pub.Publish(o.cfg.Bus.Topic(events.TopicSagaLog), msgs...); err != nil {
			return fmt.Errorf("append to the saga log: %w", err)
		}
		defer o.send(d.State, out)
	}
	o.store.put(d.State, epoch)
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
func (o *Orchestrator) send(s saga.State, cmds []saga.Outgoing) {
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
		o.flushOutbox()
		o.tick(ctx)
	}
}

// tick decides on every due saga, while no batch is between its decisions
// and their writing.
func (o *Orchestrator) tick(ctx context.Context) {
	due := o.store.due(o.cfg.Now())
	if len(due) == 0 {
		return
	}
	o.ticking.Lock()
	defer o.ticking.Unlock()
	for _, id := range due {
		if err := o.process(ctx, id, saga.Tick{}); err != nil {
			o.log.Warn().Err(err).Str("saga_id", id).Msg("tick failed; will retry")
		}
	}
}

func (o *Orchestrator) flushOutbox() {
	o.outboxMu.Lock()
	cmds := o.outbox
	o.outbox = nil
	o.outboxMu.Unlock()
	for _, c := range cmds {
		o.send(saga.State{SagaID: c.Envelope.SagaID, BookingRef: c.Envelope.CorrelationID}, []saga.Outgoing{c})
	}
}
