package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Claims maps each topic to the partitions this member of a consumer group
// owns, unprefixed topic names as the caller gave them.
type Claims map[string][]int32

// Partitions is the union of the partitions of every claimed topic.
func (c Claims) Partitions() []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, ps := range c {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// Group consumes topics as one member of a consumer group and says which
// partitions it owns. Services whose state is split by partition load a
// partition's state in OnAssigned before its first message, and drop it in
// OnRevoked, so several processes can share the work.
//
// Watermill's subscriber hides rebalances, so the group itself is sarama's;
// messages, middleware and dead letters are watermill's.
type Group struct {
	// Name is the consumer group, unprefixed.
	Name string
	// Handlers maps each unprefixed topic to its handler.
	Handlers map[string]message.NoPublishHandlerFunc
	// OnAssigned runs before any message of a new generation is handled.
	// An error ends the session; the group is then joined again.
	OnAssigned func(ctx context.Context, claims Claims) error
	// OnRevoked runs once no message of the ending generation is in flight.
	OnRevoked func(claims Claims)
	Options   ConsumerOptions
	// Exclusive, when set, is held shared while a batch is handled and
	// written: a caller that writes outside the handlers (a timer) holds
	// it exclusively, so it never sees state a batch has not yet written.
	Exclusive *sync.RWMutex
	// OneRound writes a batch's log and what it sends in one round rather
	// than the log first: for handlers that, redelivered after a crash,
	// decide again exactly what they decided (see Outbox).
	OneRound bool
}

// maxBatch bounds the messages of one partition handled before their
// outbox is written: enough to share round trips, few enough that a batch
// adds little latency.
const maxBatch = 512

// Run consumes until ctx ends. The messages a partition has waiting are
// handled as a batch, and what their handlers staged in the batch's Outbox
// is written through pub (which also takes the dead letters) before their
// offsets are marked: a crash redelivers, and never skips.
func (g Group) Run(ctx context.Context, cfg Config, pub message.Publisher, logger watermill.LoggerAdapter) error {
	if g.Name == "" || len(g.Handlers) == 0 {
		return errors.New("bus: a group needs a name and handlers")
	}
	chain, err := handlerChain(cfg, pub, logger, g.Options)
	if err != nil {
		return err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return err
	}
	// Offsets are marked once a message is handled and committed in the
	// background: a synchronous commit per message would queue behind the
	// long-polling fetch on the same connection and cost up to its wait.
	// A crash redelivers what was handled but not yet committed, which the
	// handlers recognise by message id.
	conf.Consumer.Offsets.AutoCommit.Enable = true
	conf.Consumer.Offsets.AutoCommit.Interval = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(cfg.Brokers, cfg.Group(g.Name), conf)
	if err != nil {
		return unreachable(cfg, err)
	}
	defer cg.Close()
	defer watchLag(cfg, g)()

	h := &groupHandler{g: g, cfg: cfg, logger: logger, pub: pub, handlers: map[string]message.HandlerFunc{}, topics: map[string]string{}}
	var topics []string
	for t, fn := range g.Handlers {
		full := cfg.Topic(t)
		topics = append(topics, full)
		h.topics[full] = t
		h.handlers[full] = chain(logPoison(fn, g.Options, logger))
	}
	go func() {
		for err := range cg.Errors() {
			logger.Error("consumer group error", err, watermill.LogFields{"group": g.Name})
		}
	}()
	logger.Info("joining consumer group", watermill.LogFields{"group": g.Name, "topics": fmt.Sprint(topics)})
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, topics, h); err != nil && ctx.Err() == nil {
			logger.Error("consumer group session ended; joining again", err, watermill.LogFields{"group": g.Name})
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

type groupHandler struct {
	g        Group
	cfg      Config
	logger   watermill.LoggerAdapter
	pub      message.Publisher
	handlers map[string]message.HandlerFunc
	topics   map[string]string // prefixed -> as given

	mu     sync.Mutex
	claims Claims
	// lanes serialise the batches of one partition number across topics:
	// co-partitioned topics (a saga's requests and replies) hold the same
	// keys, and a batch's records are written after its handlers ran, so
	// two claims of one key must not interleave handling and writing.
	lanes map[int32]*sync.Mutex
}

func (h *groupHandler) lane(p int32) *sync.Mutex {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lanes == nil {
		h.lanes = map[int32]*sync.Mutex{}
	}
	if h.lanes[p] == nil {
		h.lanes[p] = &sync.Mutex{}
	}
	return h.lanes[p]
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	claims := Claims{}
	for t, ps := range sess.Claims() {
		claims[h.topics[t]] = ps
	}
	h.mu.Lock()
	h.claims = claims
	h.mu.Unlock()
	h.logger.Info("partitions assigned", watermill.LogFields{"group": h.g.Name, "claims": fmt.Sprint(claims),
		"generation": sess.GenerationID(), "member": sess.MemberID()})
	if h.g.OnAssigned != nil {
		return h.g.OnAssigned(sess.Context(), claims)
	}
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	claims := h.claims
	h.claims = nil
	h.mu.Unlock()
	if h.g.OnRevoked != nil && claims != nil {
		h.g.OnRevoked(claims)
	}
	return nil
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	handle := h.handlers[claim.Topic()]
	batch := make([]*sarama.ConsumerMessage, 0, maxBatch)
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case rec, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch[:0], rec)
		drain:
			for len(batch) < maxBatch {
				select {
				case rec, ok := <-claim.Messages():
					if !ok {
						break drain
					}
					batch = append(batch, rec)
				default:
					break drain
				}
			}
			if !h.handleBatch(sess, handle, batch) {
				return nil
			}
			sess.MarkMessage(batch[len(batch)-1], "")
		}
	}
}

// handleBatch handles the messages in order, then writes what their
// handlers staged in the batch's outbox. It returns false when the session
// ends first: nothing is marked, so the next owner handles them again.
func (h *groupHandler) handleBatch(sess sarama.ConsumerGroupSession, handle message.HandlerFunc, batch []*sarama.ConsumerMessage) bool {
	if h.g.Exclusive != nil {
		h.g.Exclusive.RLock()
		defer h.g.Exclusive.RUnlock()
	}
	lane := h.lane(batch[0].Partition)
	lane.Lock()
	defer lane.Unlock()
	out := &Outbox{}
	ctx := withOutbox(sess.Context(), out)
	for _, rec := range batch {
		if !h.handleUntilDone(ctx, handle, rec) {
			return false
		}
	}
	if out.empty() {
		return true
	}
	return retryUntilDone(ctx, func() error { return out.flush(h.pub, h.g.OneRound) }, func(err error) {
		h.logger.Error("batch not written; will retry", err, watermill.LogFields{
			"topic": batch[0].Topic, "partition": batch[0].Partition, "offset": batch[0].Offset, "messages": len(batch)})
	})
}

// handleUntilDone runs the handler until it succeeds: the middleware has
// retried and dead-lettered what it could, so an error left here is a
// transient one (the broker is away) and the partition waits for it. It
// returns false when the session ends first.
func (h *groupHandler) handleUntilDone(ctx context.Context, handle message.HandlerFunc, rec *sarama.ConsumerMessage) bool {
	return retryUntilDone(ctx, func() error {
		msg, _ := Marshaler{}.Unmarshal(rec)
		msg.SetContext(ctx)
		_, err := handle(msg)
		return err
	}, func(err error) {
		h.logger.Error("message not handled; will retry", err, watermill.LogFields{
			"topic": rec.Topic, "partition": rec.Partition, "offset": rec.Offset})
	})
}

// retryUntilDone calls do until it succeeds, backing off, or until ctx
// ends (false).
func retryUntilDone(ctx context.Context, do func() error, failed func(error)) bool {
	wait := 100 * time.Millisecond
	for {
		err := do()
		if err == nil {
			return true
		}
		failed(err)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// handlerChain wraps handlers in the middleware every consumer of the
// product uses: dead letters for poison, retries with backoff for transient
// errors, and panic recovery.
func handlerChain(cfg Config, pub message.Publisher, logger watermill.LoggerAdapter, opts ConsumerOptions) (func(message.HandlerFunc) message.HandlerFunc, error) {
	if opts.DLQTopic == "" || opts.Poison == nil {
		return nil, errors.New("bus: consumers need a dead-letter topic and a poison test")
	}
	dlq, err := middleware.PoisonQueueWithFilter(pub, cfg.Topic(opts.DLQTopic), opts.isPoison)
	if err != nil {
		return nil, err
	}
	retry := middleware.Retry{
		MaxRetries:          8,
		InitialInterval:     100 * time.Millisecond,
		MaxInterval:         5 * time.Second,
		Multiplier:          2,
		RandomizationFactor: 0.2,
		ShouldRetry:         func(p middleware.RetryParams) bool { return !opts.isPoison(p.Err) },
		Logger:              logger,
	}
	// The outermost wrapper comes first: dead letters see the final error
	// after retries; the recoverer turns panics into errors first.
	return func(h message.HandlerFunc) message.HandlerFunc {
		return dlq(countPoison(cfg, opts, retry.Middleware(middleware.Recoverer(h))))
	}, nil
}
