package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Outbox collects what the handlers of one batch of consumed messages
// write, so the batch is written with a round trip per phase instead of
// one per record. A handler's log entries (its events) go in PhaseLog and
// the messages they cause (commands, replies, forwarded records) in
// PhaseSend.
//
// By default PhaseLog is written and acknowledged before PhaseSend is
// sent, so nothing is ever sent that its log does not hold: two durable
// writes, one after the other. A Group whose handlers are re-derivable
// (Group.OneRound) has both phases written in one round instead, each
// topic in parallel, which sarama groups into one produce request per
// broker. A crash may then leave a message sent whose log entry is not
// durable. That is safe when, and only when, the consumer decides again
// exactly what it decided: the batch was not marked, so its messages are
// redelivered in the same order; the state they are decided on is folded
// from the same log (everything before the batch, which was written in
// full before the batch was handled, plus the part of the batch that
// reached the log: a prefix, as one idempotent producer writes a
// partition in order); and the decision depends on nothing else (not the
// clock, not another topic). Then each message is decided again as before,
// with the same ids, and what was already sent is a duplicate its readers
// drop. A participant qualifies (see participant.Runtime); the
// orchestrator does not: its decisions depend on time (deadlines) and on
// how its requests, replies and ticks interleave, so after a crash the
// decision behind a command already sent can be made differently (see
// docs/architecture.md, "Durable writes per step").
type Outbox struct {
	mu     sync.Mutex
	phases [2]map[string][]*message.Message
}

// Phases of an Outbox.
const (
	PhaseLog  = 0
	PhaseSend = 1
)

type outboxKey struct{}

// OutboxFrom returns the outbox of the batch msg's context belongs to, or
// nil when the message is handled on its own (then the handler publishes).
func OutboxFrom(ctx context.Context) *Outbox {
	o, _ := ctx.Value(outboxKey{}).(*Outbox)
	return o
}

func withOutbox(ctx context.Context, o *Outbox) context.Context {
	return context.WithValue(ctx, outboxKey{}, o)
}

// Add stages messages for topic (a cluster name) in phase.
func (o *Outbox) Add(phase int, topic string, msgs ...*message.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.phases[phase] == nil {
		o.phases[phase] = map[string][]*message.Message{}
	}
	o.phases[phase][topic] = append(o.phases[phase][topic], msgs...)
}

func (o *Outbox) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.phases[0]) == 0 && len(o.phases[1]) == 0
}

// flush writes the phases in order, or both in one round when together
// (a topic of both phases gets its log entries first, in one write); the
// topics of one round in parallel. Retrying a flush that failed part way
// writes some records again, which readers recognise by their ids.
func (o *Outbox) flush(pub message.Publisher, together bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	rounds := o.phases[:]
	if together {
		both := map[string][]*message.Message{}
		for _, phase := range o.phases {
			for topic, msgs := range phase {
				both[topic] = append(both[topic], msgs...)
			}
		}
		rounds = []map[string][]*message.Message{both}
	}
	for _, round := range rounds {
		if err := publishRound(pub, round); err != nil {
			return err
		}
	}
	return nil
}

// publishRound writes every topic of round in parallel and waits for all.
func publishRound(pub message.Publisher, round map[string][]*message.Message) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for topic, msgs := range round {
		wg.Go(func() {
			if err := pub.Publish(topic, msgs...); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("write %d records: %w", len(msgs), err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// batchLinger is how long a BatchPublisher's records wait for company
// while other calls are in flight. Measured with `saga bench --rate 500`
// on Apache Kafka, 1 ms halved the latency of no wait, 3 ms gave back part
// of the gain; less is no shorter, since an idle Go process sleeps for
// whole milliseconds.
const batchLinger = time.Millisecond

// BatchPublisher is a watermill Publisher whose Publish writes all its
// messages together: sarama groups them into one request per broker
// instead of a round trip per message, and concurrent calls share
// requests too. It has the product's producer settings (idempotent,
// acks from every in-sync replica), and returns once all are acknowledged.
//
// A call made while no other is in flight has no one to wait for: it goes
// through a producer that sends at once. A saga's steps are four writes in
// sequence each, so an idle system would otherwise spend a millisecond of
// linger on every one of them.
type BatchPublisher struct {
	eager, batching sarama.SyncProducer
	inFlight        atomic.Int32
	marshaler       Marshaler
}

// NewBatchPublisher connects a BatchPublisher.
func NewBatchPublisher(cfg Config) (*BatchPublisher, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var ps [2]sarama.SyncProducer
	for i, linger := range []time.Duration{0, batchLinger} {
		conf, err := SaramaConfig(cfg)
		if err != nil {
			return nil, err
		}
		// Records wait for others to share their request: under load
		// that halves the requests (and the CPU they cost the process
		// and the broker), which more than repays the wait.
		conf.Producer.Flush.Frequency = linger
		if ps[i], err = sarama.NewSyncProducer(cfg.Brokers, conf); err != nil {
			if i > 0 {
				_ = ps[0].Close()
			}
			return nil, unreachable(cfg, fmt.Errorf("create publisher: %w", err))
		}
	}
	return &BatchPublisher{eager: ps[0], batching: ps[1], marshaler: MarshalerFor(cfg)}, nil
}

// Publish writes msgs to topic (a cluster name) and waits for all of them.
// Calls that do not overlap are written in the order made, whichever
// producer each takes: each returns once its records are acknowledged.
func (p *BatchPublisher) Publish(topic string, msgs ...*message.Message) error {
	pms := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm, err := p.marshaler.Marshal(topic, m)
		if err != nil {
			return fmt.Errorf("marshal message %s: %w", m.UUID, err)
		}
		pms[i] = pm
	}
	producer := p.batching
	if p.inFlight.Add(1) == 1 {
		producer = p.eager
	}
	defer p.inFlight.Add(-1)
	if len(pms) == 1 {
		_, _, err := producer.SendMessage(pms[0])
		return WriteError(topic, err)
	}
	return WriteError(topic, producer.SendMessages(pms))
}

// Close flushes and closes the producers.
func (p *BatchPublisher) Close() error { return errors.Join(p.eager.Close(), p.batching.Close()) }
