package participant

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/tracing"
)

// Config configures the runtime of one participant.
type Config struct {
	Bus bus.Config
	Log zerolog.Logger
	// New makes an empty instance of the service. The runtime keeps one
	// instance per owned partition of the command topic: a service's
	// commands and domain events share their key and partition count, so
	// partition p of its log holds the whole state partition p needs.
	New func() service.Service
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Decorate, when set, wraps the publisher (tests use it to duplicate
	// and reorder what is sent).
	Decorate message.PublisherDecorator
	// Tracer, when set, makes a span of each command handled, a child of
	// the command's step attempt span; tracing is off when nil.
	Tracer *tracing.Part
	// OneRound writes a batch's domain events and replies in one produce
	// round instead of the events first (see handle). It saves a durable
	// write per command, but a reader that sees a saga end may then not
	// see the service's event of it yet (a client that reads inventory
	// after --wait, a reconcile at that moment), and after a crash in
	// between not until the command is handled again; so it is off unless
	// asked for (saga up --one-round-replies).
	OneRound bool
}

// Runtime runs one participant service against Kafka. Several processes of
// one service share its partitions through a consumer group.
type Runtime struct {
	cfg  Config
	name string
	log  zerolog.Logger
	pub  message.Publisher

	mu    sync.RWMutex
	parts map[int32]*partition
	// count is the command topic's partition count, known once partitions
	// are assigned.
	count int32
}

// partition is the service's state for one partition, behind the Once
// that remembers the reply to each command id it applied.
type partition struct {
	mu   sync.Mutex
	once *service.Once
}

// New returns a runtime for the service cfg.New makes; Run starts it.
func New(cfg Config) (*Runtime, error) {
	if cfg.New == nil {
		return nil, errors.New("participant runtime needs a service constructor")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Bus.Validate(); err != nil {
		return nil, err
	}
	name := cfg.New().Name()
	return &Runtime{cfg: cfg, name: name, parts: map[int32]*partition{},
		log: cfg.Log.With().Str("service", name).Logger()}, nil
}

// Name is the service's name.
func (r *Runtime) Name() string { return r.name }

// Run consumes the service's commands until ctx ends, rebuilding the state
// of each partition it is given from the service's own log first.
func (r *Runtime) Run(ctx context.Context) error {
	wlog := bus.NewWatermillLogger(r.log)
	batcher, err := bus.NewBatchPublisher(r.cfg.Bus)
	if err != nil {
		return fmt.Errorf("%s publisher: %w", r.name, err)
	}
	defer batcher.Close()
	var pub message.Publisher = batcher
	if r.cfg.Decorate != nil {
		if pub, err = r.cfg.Decorate(pub); err != nil {
			return err
		}
	}
	r.pub = pub
	return bus.Group{
		Name:       r.name,
		Handlers:   map[string]message.NoPublishHandlerFunc{events.CommandTopic(r.name): r.handle},
		OnAssigned: r.assigned,
		OnRevoked: func(bus.Claims) {
			r.mu.Lock()
			r.parts = map[int32]*partition{}
			r.mu.Unlock()
		},
		Options: bus.ConsumerOptions{DLQTopic: events.TopicDLQ, Poison: isPoison},
		// A batch's domain events and replies in one round, when asked (see handle).
		OneRound: r.cfg.OneRound,
	}.Run(ctx, r.cfg.Bus, pub, wlog)
}

func isPoison(err error) bool { return errors.Is(err, events.ErrMalformed) }

func (r *Runtime) assigned(ctx context.Context, claims bus.Claims) error {
	count, err := bus.PartitionCount(ctx, r.cfg.Bus, r.cfg.Bus.Topic(events.CommandTopic(r.name)))
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", events.CommandTopic(r.name), err)
	}
	parts := map[int32]*partition{}
	n := 0
	for _, p := range claims.Partitions() {
		part := &partition{once: service.NewOnce(r.cfg.New())}
		err := bus.ReadPartition(ctx, r.cfg.Bus, r.cfg.Bus.Topic(events.DomainTopic(r.name)), p, 0, func(rec bus.Record) error {
			if part.fold(r.cfg.Bus, rec, r.log) {
				n++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("recover %s partition %d from its log: %w", r.name, p, err)
		}
		parts[p] = part
	}
	r.mu.Lock()
	r.parts, r.count = parts, count
	r.mu.Unlock()
	r.log.Info().Ints32("partitions", claims.Partitions()).Int("events", n).Msg("recovered state from the domain log")
	return nil
}

// fold applies one record of the domain log; it reports whether it counted.
func (part *partition) fold(cfg bus.Config, rec bus.Record, log zerolog.Logger) bool {
	if _, err := cfg.VerifyLogged(rec); err != nil {
		log.Error().Err(err).Int32("partition", rec.Partition).Int64("offset", rec.Offset).Msg("skipping domain event the service did not write")
		return false
	}
	e, err := bus.CheckRecord(rec)
	if err != nil {
		log.Error().Err(err).Int32("partition", rec.Partition).Int64("offset", rec.Offset).Msg("skipping unreadable domain event")
		return false
	}
	folded, err := part.once.Apply(e)
	if err != nil {
		log.Error().Err(err).Str("event", string(e.Type)).Msg("skipping domain event that does not fold")
		return false
	}
	return folded // false: a retried append wrote it twice
}

// handle applies a command at most once: a command id seen before gets the
// original reply again and changes nothing.
//
// In a batch, the domain event is written before the reply; with
// Config.OneRound both go in one round (bus.Group.OneRound), so a crash
// may leave the reply sent and the event not written. The command is then redelivered, as its offset was not
// committed, and decided again to the same event and reply: Handle is a
// pure function of the command and the partition's state; that state is
// folded from the partition's log, which holds everything decided before
// the batch and a prefix of the batch; every command of a key is applied
// on its key's partition (reroute), in the partition's order; and the
// clock only stamps the records. Only the replies' and events' timestamps
// differ, and their ids do not.
func (r *Runtime) handle(msg *message.Message) error {
	cmd, err := bus.FromMessage(msg)
	if err != nil {
		return err
	}
	// Only the orchestrator commands (or this service, forwarding one).
	if _, err := r.cfg.Bus.VerifyMessage(msg, r.cfg.Now()); err != nil {
		return err
	}
	cmd, p, err := events.CheckAs[events.CommandV1](cmd)
	if err != nil {
		return err
	}
	if cmd.SagaID == "" {
		return events.Malformed("command without %s header", events.HeaderSagaID)
	}
	if done, err := r.reroute(msg, cmd.Key); done || err != nil {
		return err
	}
	part, err := r.partitionOf(msg)
	if err != nil {
		return err
	}
	sc, cs := r.span(msg, cmd, p)
	defer cs.end()
	tid := tracing.TraceID(sc)
	// Fields are added to an event only when its level is on: a disabled
	// event is nil and costs nothing, where a logger With them would be
	// built for every command.
	log := func(ev *zerolog.Event) *zerolog.Event {
		return ev.Str("saga_id", cmd.SagaID).Str("correlation_id", cmd.CorrelationID).Str("actor", cmd.Actor).
			Str("command", string(cmd.Type)).Str("command_id", cmd.ID).Int("attempt", p.Attempt).Str("trace_id", tid)
	}

	part.mu.Lock()
	defer part.mu.Unlock()
	box := bus.OutboxFrom(msg.Context())
	a, err := part.once.Handle(cmd, p, r.cfg.Now())
	if err != nil {
		return err
	}
	switch {
	case a.Repeat:
		log(r.log.Info()).Str("outcome", a.Reply.Outcome).Msg("command seen before; replying again")
		cs.outcome(a.Reply)
		return r.reply(box, cmd, a.Reply, sc)
	case a.Dropped:
		log(r.log.Warn()).Msg("command dropped by the service")
		return nil
	}
	ev, h := a.Event, a.Reply
	// The event goes to the partition of the command that caused it, so
	// the owner of that partition finds it when it rebuilds the state.
	ev.Key = cmd.Key
	reply, err := r.replyTo(cmd, h)
	if err != nil {
		return err
	}
	topic := r.cfg.Bus.Topic(events.DomainTopic(r.name))
	evMsg := bus.ToMessage(ev)
	tracing.Put(evMsg.Metadata, sc)
	if box != nil {
		box.Add(bus.PhaseLog, topic, evMsg)
	} else if err := r.pub.Publish(topic, evMsg); err != nil {
		return fmt.Errorf("append %s: %w", ev.Type, err)
	}
	if _, err := part.once.Apply(ev); err != nil {
		return fmt.Errorf("apply own %s: %w", ev.Type, err)
	}
	log(r.log.Info()).Str("event", string(ev.Type)).Str("outcome", h.Outcome).Str("reason", h.Reason).Msg("command handled")
	cs.outcome(h)
	return r.send(box, reply, sc)
}

// reroute forwards a command that arrived on another partition than its
// key's to that partition, and reports whether it did. The state a command
// needs (a show's seats, for the booking service) is on the partition of
// its key, as the deployment's partitioner places it; a command placed by
// another partitioner is therefore applied there, never here, where it
// would see none of that state. Within a batch the copy is written before
// the offsets move; one forwarded twice keeps its id, and is applied once.
func (r *Runtime) reroute(msg *message.Message, key string) (bool, error) {
	arrived, ok := bus.Arrived(msg)
	if !ok || key == "" {
		return false, nil
	}
	r.mu.RLock()
	n := r.count
	r.mu.RUnlock()
	home := r.cfg.Bus.Partitioner.Partition(key, n)
	if n <= 0 || home == arrived {
		return false, nil
	}
	topic := r.cfg.Bus.Topic(events.CommandTopic(r.name))
	fwd := bus.Rekeyed(msg, key)
	if box := bus.OutboxFrom(msg.Context()); box != nil {
		box.Add(bus.PhaseSend, topic, fwd)
		return true, nil
	}
	if err := r.pub.Publish(topic, fwd); err != nil {
		return true, fmt.Errorf("forward to partition %d of %s: %w", home, topic, err)
	}
	return true, nil
}

// partitionOf returns the state of the partition msg was read from.
func (r *Runtime) partitionOf(msg *message.Message) (*partition, error) {
	p, err := strconv.ParseInt(msg.Metadata.Get(bus.MetaPartition), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("command without its partition: %w", err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	part, ok := r.parts[int32(p)]
	if !ok {
		return nil, fmt.Errorf("partition %d is not owned by this %s process", p, r.name)
	}
	return part, nil
}

func (r *Runtime) reply(box *bus.Outbox, cmd events.Envelope, h events.Handled, sc trace.SpanContext) error {
	e, err := r.replyTo(cmd, h)
	if err != nil {
		return err
	}
	return r.send(box, e, sc)
}

func (r *Runtime) replyTo(cmd events.Envelope, h events.Handled) (events.Envelope, error) {
	p := events.StepReplyV1{CommandID: cmd.ID, Command: cmd.Type, Outcome: h.Outcome, Reason: h.Reason, Data: h.Reply}
	return events.New(events.DerivedID(cmd.ID, "reply"), events.StepReply, p, events.TraceOf(cmd), cmd.SagaID, r.cfg.Now())
}

// send sends a reply, with the trace context sc: in the batch's outbox,
// after its log phase, or now.
func (r *Runtime) send(box *bus.Outbox, e events.Envelope, sc trace.SpanContext) error {
	topic := r.cfg.Bus.Topic(events.TopicReplies)
	msg := bus.ToMessage(e)
	tracing.Put(msg.Metadata, sc)
	if box != nil {
		box.Add(bus.PhaseSend, topic, msg)
		return nil
	}
	if err := r.pub.Publish(topic, msg); err != nil {
		return fmt.Errorf("reply to %s: %w", e.Type, err)
	}
	return nil
}
