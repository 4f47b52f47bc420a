package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/tracing"
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

	// SnapshotEvents is how many events appended to a saga log partition
	// since its latest snapshot make the next one due; 10000 by default.
	// A recovery folds at most about this many events per partition: on
	// two cores, 10000 on each of four partitions take about half a
	// second, and a snapshot of a partition of a million-event history
	// (1.8 MB) about a third of the bytes of those events.
	SnapshotEvents int
	// SnapshotInterval is how long a partition with fewer changes waits
	// for its next snapshot; 1 minute by default. Such a snapshot also
	// waits until the events since the last one are a quarter of its size,
	// so that a trickle of events does not rewrite a large snapshot every
	// interval.
	SnapshotInterval time.Duration
	// SnapshotChunkBytes is the largest record a snapshot is written as;
	// 512 KiB by default, at most maxChunkBytes (Kafka's records are
	// limited to about 1 MB by default).
	SnapshotChunkBytes int
	// NoSnapshots turns snapshots off: none is written, and recovery
	// folds the whole saga log.
	NoSnapshots bool
	// Tracer, when set, exports a span per saga, step attempt and
	// compensation (see traces); tracing is off when nil.
	Tracer *tracing.Part
	// CompensationHorizon is how long a compensation that gets no reply
	// is retried, from its first attempt, before its saga is parked as
	// failed; saga.DefaultCompensationHorizon when zero, the definitions'
	// attempts alone when negative.
	CompensationHorizon time.Duration
}

// maxChunkBytes leaves room for a chunk's headers under sarama's default
// limit of a produced record (1,000,000 bytes).
const maxChunkBytes = 960_000

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
	if c.SnapshotEvents <= 0 {
		c.SnapshotEvents = 10_000
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = time.Minute
	}
	if c.CompensationHorizon == 0 {
		c.CompensationHorizon = saga.DefaultCompensationHorizon
	}
	if c.SnapshotChunkBytes <= 0 {
		c.SnapshotChunkBytes = 512 << 10
	}
	c.SnapshotChunkBytes = min(c.SnapshotChunkBytes, maxChunkBytes)
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
	// ticking is held by the tick loop while it decides or takes a
	// snapshot, and shared by the batches of consumed messages: a batch's
	// decisions are in the store before they are in the log, and a tick
	// must neither decide on them nor snapshot them then.
	ticking sync.RWMutex

	// kafka reads the logs by offset and writes snapshots, to the
	// partition each names; open while Run runs.
	kafka *bus.Log
	// writers are the snapshot writes in flight; writing has their
	// partitions.
	writers   sync.WaitGroup
	writingMu sync.Mutex
	writing   map[int32]bool

	traces *traces
	pruner snapshotPruner

	// definitionsEnd is the offset after the last definition version the
	// machine was given; definitionsMu orders the follower and catch-ups;
	// definitionsCaughtUp is when a request last made it catch up.
	definitionsEnd      atomic.Int64
	definitionsMu       sync.Mutex
	definitionsCaughtUp atomic.Int64
}

// New returns an orchestrator; Run starts it.
func New(cfg Config) (*Orchestrator, error) {
	cfg.setDefaults()
	if err := cfg.Bus.Validate(); err != nil {
		return nil, err
	}
	return &Orchestrator{cfg: cfg, machine: saga.NewMachine(cfg.Definitions).WithCompensationHorizon(cfg.CompensationHorizon), store: newStore(cfg.Bus.Partitioner),
		log: cfg.Log.With().Str("service", "orchestrator").Logger(), writing: map[int32]bool{},
		traces: newTraces(cfg.Tracer, cfg.Definitions)}, nil
}

// open connects the log that reads offsets and ranges and writes
// snapshots (each to the partition of the saga log partition it is of).
func (o *Orchestrator) open() error {
	l, err := bus.OpenLog(o.cfg.Bus, bus.LogOptions{Writes: true})
	if err != nil {
		return fmt.Errorf("orchestrator: connect: %w", err)
	}
	o.kafka = l
	return nil
}

// close waits a while for the snapshots being written, then disconnects.
func (o *Orchestrator) close() {
	done := make(chan struct{})
	go func() {
		o.writers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		o.log.Warn().Msg("stopping with a snapshot still being written; the next recovery uses an older one")
	}
	_ = o.kafka.Close()
}

// Run consumes requests and replies as a member of the orchestrators'
// consumer group until ctx ends. Whenever it is given partitions it
// rebuilds their sagas from their latest snapshots and the saga log after
// them, and re-sends the commands they await; several orchestrators thus
// share the sagas, and one that dies hands its sagas to the others. The
// tick loop snapshots each partition as it grows.
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
	if err := o.open(); err != nil {
		return err
	}
	defer o.close()
	follow, err := o.syncDefinitions(ctx)
	if err != nil {
		return fmt.Errorf("definitions: %w", err)
	}
	go follow()
	defer o.cfg.Bus.Metrics.AddCensus(o.census)()
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		o.tickLoop(ctx)
	}()
	// The tick loop starts snapshot writes: it stops before close waits.
	defer func() { <-ticking }()
	return bus.Group{
		Name: "orchestrator",
		// saga.requests and saga.replies are keyed by saga id and have as
		// many partitions as saga.events: partition p of each holds the
		// same sagas, so the member given p owns those sagas whole.
		Handlers:   map[string]message.NoPublishHandlerFunc{events.TopicRequests: o.handleRequest, events.TopicReplies: o.handleReply},
		OnAssigned: o.assigned,
		OnRevoked:  func(bus.Claims) { o.store.reset(); o.traces.reset() },
		Options:    bus.ConsumerOptions{DLQTopic: events.TopicDLQ, Poison: isPoison},
		Exclusive:  &o.ticking,
	}.Run(ctx, o.cfg.Bus, pub, wlog)
}

func isPoison(err error) bool { return errors.Is(err, events.ErrMalformed) }

func (o *Orchestrator) handleRequest(msg *message.Message) error {
	e, err := bus.FromMessage(msg)
	if err != nil {
		return err
	}
	if _, err := o.cfg.Bus.VerifyMessage(msg, o.cfg.Now()); err != nil {
		return err
	}
	switch e.Type {
	case events.ResumeSaga:
		e, p, err := events.CheckAs[events.ResumeSagaV1](e)
		if err != nil {
			return err
		}
		if e.SagaID == "" {
			return events.Malformed("%s without %s header", events.ResumeSaga, events.HeaderSagaID)
		}
		if done, err := o.reroute(msg, events.TopicRequests, e.SagaID); done || err != nil {
			return err
		}
		return o.process(msg.Context(), e.SagaID, saga.Resume{Request: e, Reason: p.Reason})
	case events.StartSaga:
		e, p, err := events.CheckAs[events.StartSagaV1](e)
		if err != nil {
			return err
		}
		sagaID := events.SagaIDFor(p.IdempotencyKey)
		if done, err := o.reroute(msg, events.TopicRequests, sagaID); done || err != nil {
			return err
		}
		return o.process(tracing.Remote(msg.Context(), msg.Metadata), sagaID, saga.Start{Request: e, Payload: p})
	}
	if _, err := events.Check(e); err != nil {
		return err
	}
	return events.Malformed("%s carries %s or %s, not %s", events.TopicRequests, events.StartSaga, events.ResumeSaga, e.Type)
}

func (o *Orchestrator) handleReply(msg *message.Message) error {
	e, err := bus.FromMessage(msg)
	if err != nil {
		return err
	}
	signer, err := o.cfg.Bus.VerifyMessage(msg, o.cfg.Now())
	if err != nil {
		return err
	}
	if e.Type != events.StepReply {
		if _, err := events.Check(e); err != nil {
			return err
		}
		return events.Malformed("%s carries %s, not %s", events.TopicReplies, e.Type, events.StepReply)
	}
	e, p, err := events.CheckAs[events.StepReplyV1](e)
	if err != nil {
		return err
	}
	if e.SagaID == "" {
		return events.Malformed("reply without %s header", events.HeaderSagaID)
	}
	if done, err := o.reroute(msg, events.TopicReplies, e.SagaID); done || err != nil {
		return err
	}
	return o.process(tracing.Remote(msg.Context(), msg.Metadata), e.SagaID, saga.Reply{Envelope: e, Payload: p, Signer: signer})
}

// reroute forwards a request or reply that arrived on another partition
// than its saga's, keyed by the saga id, and reports whether it did. A
// saga thus lives on the one partition the deployment's partitioner gives
// its id, whatever partitioner the client or participant that wrote the
// record used: its log, its requests and its replies are all handled by
// the orchestrator that owns that partition, which alone holds its state.
// (Keying the saga by the partition its request arrived on instead would
// let two requests with one idempotency key, sent by two clients, start
// the saga twice, and replies would still need to find it.)
//
// The copy keeps the message id; within a batch it is written before the
// batch's offsets move, so a crash forwards it again, and the owner
// recognises a repeated request or reply as it always does.
func (o *Orchestrator) reroute(msg *message.Message, topic, sagaID string) (bool, error) {
	arrived, ok := bus.Arrived(msg)
	if !ok {
		return false, nil
	}
	home, ok := o.store.home(sagaID)
	if !ok || home == arrived {
		return false, nil
	}
	fwd := bus.Rekeyed(msg, sagaID)
	o.log.Debug().Str("saga_id", sagaID).Str("topic", topic).Int32("from", arrived).Int32("to", home).Msg("forwarding to the saga's partition")
	if box := bus.OutboxFrom(msg.Context()); box != nil {
		box.Add(bus.PhaseSend, o.cfg.Bus.Topic(topic), fwd)
		return true, nil
	}
	if err := o.pub.Publish(o.cfg.Bus.Topic(topic), fwd); err != nil {
		return true, fmt.Errorf("forward to partition %d of %s: %w", home, topic, err)
	}
	return true, nil
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
	if err := conflicting(s, in); err != nil {
		return err
	}
	d, err := o.machine.Next(s, in, o.cfg.Now())
	if errors.Is(err, saga.ErrUnknownDefinition) && o.catchUpDefinitions(ctx) {
		d, err = o.machine.Next(s, in, o.cfg.Now())
	}
	if err != nil || len(d.Events) == 0 {
		return err
	}
	evs, out := d.Events, d.Commands
	defer o.traces.decided(ctx, s, d.State, evs)()
	for _, e := range evs {
		o.logEvent(d.State, e)
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		msgs[i] = o.toMessage(e)
	}
	bytes := 0
	for _, e := range evs {
		bytes += len(e.Payload)
	}
	if box := bus.OutboxFrom(ctx); box != nil {
		box.Add(bus.PhaseLog, o.cfg.Bus.Topic(events.TopicSagaLog), msgs...)
		for _, c := range out {
			box.Add(bus.PhaseSend, o.cfg.Bus.Topic(c.Topic), o.toMessage(c.Envelope))
		}
	} else {
		if err := o.pub.Publish(o.cfg.Bus.Topic(events.TopicSagaLog), msgs...); err != nil {
			// Some of the events may be in the log all the same: the
			// shard may no longer equal the log.
			o.store.diverge(sagaID, epoch)
			return fmt.Errorf("append to the saga log: %w", err)
		}
		defer o.send(d.State, out)
	}
	o.store.put(d.State, epoch, len(evs), bytes)
	o.record(s, d.State, evs, o.cfg.Now())
	return nil
}

func (o *Orchestrator) logEvent(s saga.State, e events.Envelope) {
	ev := o.log.Info()
	if e.Type == events.StepFailed || e.Type == events.StepTimedOut || e.Type == events.CompensationFailed || e.Type == events.SagaFailed {
		ev = o.log.Warn()
	}
	ev.Str("saga_id", s.SagaID).Str("correlation_id", s.BookingRef).Str("trace_id", o.traces.traceID(s.SagaID)).Str("actor", s.Actor).
		Str("definition", s.Definition).Str("status", string(s.Status)).RawJSON("payload", e.Payload).Msg(string(e.Type))
}

// send publishes commands; what cannot be sent now waits in the outbox.
func (o *Orchestrator) send(s saga.State, cmds []saga.Outgoing) {
	for i, c := range cmds {
		if err := o.pub.Publish(o.cfg.Bus.Topic(c.Topic), o.toMessage(c.Envelope)); err != nil {
			o.log.Warn().Err(err).Str("saga_id", s.SagaID).Str("correlation_id", s.BookingRef).Str("command", string(c.Envelope.Type)).Msg("command not sent; will retry")
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
		o.snapshots() //nolint:contextcheck // snapshot writes outlive the tick that started them, bounded by their own timeout
	}
}

// tick decides on every due saga, while no batch is between its decisions
// and their writing.
func (o *Orchestrator) tick(ctx context.Context) {
	now := o.cfg.Now()
	due := o.store.due(now, func(s saga.State) bool { return o.machine.Overdue(s, now) })
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

// conflicting refuses a request that reuses the idempotency key of a
// running saga for something else: it goes to the dead-letter topic with
// the reason, where a retry of the same request starts nothing new. Only
// a running saga still holds the data to compare; the client and the API
// compare against ended ones from the read model.
func conflicting(s saga.State, in saga.Input) error {
	start, ok := in.(saga.Start)
	if !ok || !s.Started() {
		return nil
	}
	p := start.Payload
	if p.Definition == s.Definition &&
		events.StartedFingerprint(s.Definition, p.Data, s.Data) == events.RequestFingerprint(p.Definition, p.Data) {
		return nil
	}
	return events.Malformed("idempotency key %q was used for another request: saga %s (%s) started with other data", p.IdempotencyKey, s.SagaID, s.Definition)
}
