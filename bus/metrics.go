package bus

import (
	"context"
	"sort"
	"sync"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/metrics"
)

// countPoison counts, by the topic it was read from and the code of its
// reason, a message the dead-letter middleware is about to move: it sees
// the final error, after retries and recovered panics.
func countPoison(cfg Config, opts ConsumerOptions, h message.HandlerFunc) message.HandlerFunc {
	if cfg.Metrics == nil {
		return h
	}
	return func(msg *message.Message) ([]*message.Message, error) {
		out, err := h(msg)
		if err != nil && opts.isPoison(err) {
			topic, ok := cfg.Unprefixed(msg.Metadata.Get(MetaTopic))
			if !ok {
				topic = "other"
			}
			cfg.Metrics.DeadLettered(topic, metrics.Reason(err.Error()))
		}
		return out, err
	}
}

// lagReader reports a consumer group's lag on every partition of its
// topics, over one connection kept while the group runs and opened on
// the first scrape.
type lagReader struct {
	cfg    Config
	group  string
	topics []string

	mu     sync.Mutex
	client sarama.Client
	admin  sarama.ClusterAdmin
}

func newLagReader(cfg Config, g Group) *lagReader {
	r := &lagReader{cfg: cfg, group: g.Name}
	for t := range g.Handlers {
		r.topics = append(r.topics, t)
	}
	sort.Strings(r.topics)
	return r
}

func (r *lagReader) connect() error {
	if r.admin != nil {
		return nil
	}
	conf, err := SaramaConfig(r.cfg)
	if err != nil {
		return err
	}
	c, err := newClient(r.cfg.Brokers, conf)
	if err != nil {
		return err
	}
	a, err := sarama.NewClusterAdminFromClient(c)
	if err != nil {
		_ = c.Close()
		return err
	}
	r.client, r.admin = c, a
	return nil
}

// read is a metrics.ConsumerLag: the log end of each partition minus the
// group's committed offset (minus the oldest offset when none is).
func (r *lagReader) read(context.Context) ([]metrics.PartitionLag, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.connect(); err != nil {
		return nil, err
	}
	parts := map[string][]int32{}
	for _, t := range r.topics {
		ps, err := r.client.Partitions(r.cfg.Topic(t))
		if err != nil {
			return nil, err
		}
		parts[r.cfg.Topic(t)] = ps
	}
	committed, err := r.admin.ListConsumerGroupOffsets(r.cfg.Group(r.group), parts)
	if err != nil {
		r.reset()
		return nil, err
	}
	var out []metrics.PartitionLag
	for _, t := range r.topics {
		full := r.cfg.Topic(t)
		for _, p := range parts[full] {
			end, err := r.client.GetOffset(full, p, sarama.OffsetNewest)
			if err != nil {
				return nil, err
			}
			at := int64(-1)
			if b := committed.GetBlock(full, p); b != nil {
				at = b.Offset
			}
			if at < 0 {
				if at, err = r.client.GetOffset(full, p, sarama.OffsetOldest); err != nil {
					return nil, err
				}
			}
			out = append(out, metrics.PartitionLag{Group: r.group, Topic: t, Partition: p, Lag: max(end-at, 0)})
		}
	}
	return out, nil
}

// reset drops the connection, so the next scrape opens a fresh one.
func (r *lagReader) reset() {
	if r.admin != nil {
		_ = r.admin.Close()
	}
	r.client, r.admin = nil, nil
}

func (r *lagReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reset()
}

// watchLag adds the group's lag to cfg.Metrics while it runs; the
// returned func removes it and closes its connection.
func watchLag(cfg Config, g Group) func() {
	if cfg.Metrics == nil {
		return func() {}
	}
	r := newLagReader(cfg, g)
	remove := cfg.Metrics.AddConsumerLag(r.read)
	return func() {
		remove()
		r.close()
	}
}
