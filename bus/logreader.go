package bus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/events"
)

// Record is one Kafka record as stored, for inspection and replay.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   map[string]string
	Value     []byte
	Timestamp time.Time
}

// ReadAll calls fn for every record of topic (a cluster name, already
// mapped through Config.Topic) that existed when the call started:
// partition 0 from its oldest record up to its high-water mark, then
// partition 1, and so on. Records written meanwhile are not read, so the
// call always ends. An error from fn stops the read and is returned.
// Transient errors (a broker restarting, a leader moving) are retried for
// cfg.RetryBound on a new connection, from the record after the last one
// delivered: fn sees every record once.
func ReadAll(ctx context.Context, cfg Config, topic string, fn func(Record) error) error {
	var parts []int32
	var next, ends []int64 // per partition: the next record to deliver, the end
	fn = stopping(fn)
	return resuming(ctx, cfg, "read "+topic, func(progress func()) error {
		return withConsumer(cfg, func(client sarama.Client, consumer sarama.Consumer) error {
			if parts == nil {
				ps, err := partitions(client, topic)
				if err != nil {
					return err
				}
				// Snapshot every end first: the snapshot is one moment for
				// the whole topic, not one per partition as we get to it.
				n, e := make([]int64, len(ps)), make([]int64, len(ps))
				for i, p := range ps {
					if n[i], e[i], err = bounds(client, topic, p); err != nil {
						return err
					}
				}
				parts, next, ends = ps, n, e
			}
			progress()
			return readRanges(ctx, consumer, topic, parts, next, ends, func(i int, r Record) error {
				next[i] = r.Offset + 1
				return fn(r)
			})
		})
	})
}

// readRanges delivers [next[i], ends[i]) of every partition, in order.
func readRanges(ctx context.Context, consumer sarama.Consumer, topic string, parts []int32, next, ends []int64, fn func(int, Record) error) error {
	// Open every partition at once so their fetches overlap, then
	// deliver them one after the other; the ones waiting their turn
	// buffer at most sarama's ChannelBufferSize records each.
	pcs := make([]sarama.PartitionConsumer, len(parts))
	defer func() {
		for _, pc := range pcs {
			if pc != nil {
				pc.AsyncClose()
			}
		}
	}()
	var err error
	for i, p := range parts {
		if pcs[i], err = openRange(consumer, topic, p, next[i], ends[i]); err != nil {
			return err
		}
	}
	for i, p := range parts {
		if pcs[i] == nil {
			continue
		}
		if err := drainRange(ctx, pcs[i], topic, p, ends[i], func(r Record) error { return fn(i, r) }); err != nil {
			return err
		}
		pcs[i].AsyncClose()
		pcs[i] = nil
	}
	return nil
}

// ReadPartition is ReadAll for one partition, starting at offset from
// (clamped to the oldest record still stored; 0 means "from the start"),
// on a Log of its own (Log.ReadRange).
func ReadPartition(ctx context.Context, cfg Config, topic string, partition int32, from int64, fn func(Record) error) error {
	l, err := OpenLog(cfg, LogOptions{})
	if err != nil {
		return err
	}
	defer l.Close()
	return l.ReadRange(ctx, topic, partition, from, -1, fn)
}

// Follow calls fn for every record of topic from the oldest on and keeps
// waiting for new ones until ctx is cancelled, when it returns nil.
// Partitions are read concurrently but fn is called from one goroutine;
// order holds within a partition only. Partitions added after the call
// starts are not followed.
func Follow(ctx context.Context, cfg Config, topic string, fn func(Record) error) error {
	return FollowFrom(ctx, cfg, topic, nil, fn)
}

// FollowFrom is Follow starting each partition at from[partition] (the
// oldest record for a partition it does not name, or whose offset is no
// longer held): a reader that keeps its own offsets resumes where it was.
// Transient errors (a broker restarting, a fetch cut short) are retried
// for cfg.RetryBound on a new connection, each partition resuming after
// the last record delivered.
func FollowFrom(ctx context.Context, cfg Config, topic string, from map[int32]int64, fn func(Record) error) error {
	at := maps.Clone(from)
	if at == nil {
		at = map[int32]int64{}
	}
	fn = stopping(fn)
	return resuming(ctx, cfg, "follow "+topic, func(progress func()) error {
		return followOnce(ctx, cfg, topic, at, func(r Record) error {
			at[r.Partition] = r.Offset + 1
			progress()
			return fn(r)
		}, progress)
	})
}

// followOnce is one connection of FollowFrom; it calls connected once it
// follows every partition.
func followOnce(ctx context.Context, cfg Config, topic string, from map[int32]int64, fn func(Record) error, connected func()) error {
	return withConsumer(cfg, func(client sarama.Client, consumer sarama.Consumer) error {
		parts, err := partitions(client, topic)
		if err != nil {
			return err
		}
		pcs := make([]sarama.PartitionConsumer, 0, len(parts))
		defer func() {
			for _, pc := range pcs {
				pc.AsyncClose()
			}
		}()
		msgs := make(chan *sarama.ConsumerMessage)
		errs := make(chan error, len(parts))
		stop := make(chan struct{})
		defer close(stop)
		for _, p := range parts {
			at, ok := from[p]
			if !ok {
				at = sarama.OffsetOldest
			}
			pc, err := consumer.ConsumePartition(topic, p, at)
			if ok && errors.Is(err, sarama.ErrOffsetOutOfRange) {
				pc, err = consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
			}
			if err != nil {
				return fmt.Errorf("bus: follow %s/%d: %w", topic, p, err)
			}
			pcs = append(pcs, pc)
			go forward(pc, msgs, errs, stop)
		}
		connected()
		for {
			select {
			case <-ctx.Done():
				return nil
			case err := <-errs:
				return fmt.Errorf("bus: follow %s: %w", topic, err)
			case m := <-msgs:
				if err := fn(toRecord(m, nil)); err != nil {
					return err
				}
			}
		}
	})
}

// forward fans one partition into msgs until stop; its first error (or
// the consumer dying) goes to errs.
func forward(pc sarama.PartitionConsumer, msgs chan<- *sarama.ConsumerMessage, errs chan<- error, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case m, ok := <-pc.Messages():
			if !ok {
				errs <- errors.New("partition consumer stopped")
				return
			}
			select {
			case msgs <- m:
			case <-stop:
				return
			}
		case err, ok := <-pc.Errors():
			if ok {
				errs <- err
				return
			}
		}
	}
}

// withConsumer opens one client and consumer for the call and closes both.
func withConsumer(cfg Config, do func(sarama.Client, sarama.Consumer) error) error {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return err
	}
	client, err := newClient(cfg.Brokers, conf)
	if err != nil {
		return unreachable(cfg, err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("bus: create consumer: %w", err)
	}
	defer consumer.Close()
	return do(client, consumer)
}

func partitions(client sarama.Client, topic string) ([]int32, error) {
	parts, err := client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("bus: partitions of %s: %w", topic, err)
	}
	parts = slices.Clone(parts)
	slices.Sort(parts)
	return parts, nil
}

// bounds returns the oldest stored offset and the high-water mark.
func bounds(client sarama.Client, topic string, p int32) (start, end int64, err error) {
	if start, err = Offset(client, topic, p, sarama.OffsetOldest); err != nil {
		return 0, 0, fmt.Errorf("bus: oldest offset of %s/%d: %w", topic, p, err)
	}
	if end, err = Offset(client, topic, p, sarama.OffsetNewest); err != nil {
		return 0, 0, fmt.Errorf("bus: high-water mark of %s/%d: %w", topic, p, err)
	}
	return start, end, nil
}

// Offset asks a partition's leader for an offset. Just after a topic is
// created or a broker restarts, the leader the client knows of may not yet
// know it leads: such answers are retried with fresh metadata for a while.
func Offset(client sarama.Client, topic string, p int32, at int64) (int64, error) {
	wait := 100 * time.Millisecond
	for try := 0; ; try++ {
		off, err := client.GetOffset(topic, p, at)
		if err == nil || try == 8 || !retriableLeadership(err) {
			return off, err
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
		_ = client.RefreshMetadata(topic)
	}
}

func retriableLeadership(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrNotEnoughReplicas) || errors.Is(err, sarama.ErrOffsetNotAvailable)
}

// openRange starts consuming at from; nil when [from, end) is empty.
func openRange(consumer sarama.Consumer, topic string, p int32, from, end int64) (sarama.PartitionConsumer, error) {
	if from >= end {
		return nil, nil
	}
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return nil, fmt.Errorf("bus: read %s/%d from %d: %w", topic, p, from, err)
	}
	return pc, nil
}

// drainRange delivers records until it has delivered offset end-1.
//
// saga writes no transactions, so every offset below the high-water mark
// is a visible record; a transactional writer's commit markers or aborted
// records at the tail would stay invisible, and then only ctx ends the read.
func drainRange(ctx context.Context, pc sarama.PartitionConsumer, topic string, p int32, end int64, fn func(Record) error) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: read %s/%d: %w", topic, p, ctx.Err())
		case err := <-pc.Errors():
			return fmt.Errorf("bus: read %s/%d: %w", topic, p, err)
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("bus: read %s/%d: partition consumer stopped", topic, p)
			}
			if m.Offset >= end {
				return nil
			}
			if err := fn(toRecord(m, nil)); err != nil {
				return err
			}
			if m.Offset >= end-1 {
				return nil
			}
		}
	}
}

// toRecord is m as a record. Its headers go into headers, cleared first,
// or into a new map when headers is nil.
func toRecord(m *sarama.ConsumerMessage, headers map[string]string) Record {
	if headers == nil {
		headers = make(map[string]string, len(m.Headers))
	} else {
		clear(headers)
	}
	for _, h := range m.Headers {
		if h != nil {
			headers[headerName(h.Key)] = string(h.Value)
		}
	}
	return Record{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Headers:   headers,
		Value:     m.Value,
		Timestamp: m.Timestamp,
	}
}

// headerName is string(k), without a copy for the names every record has.
func headerName(k []byte) string {
	switch string(k) {
	case events.HeaderID:
		return events.HeaderID
	case events.HeaderType:
		return events.HeaderType
	case events.HeaderVersion:
		return events.HeaderVersion
	case events.HeaderSagaID:
		return events.HeaderSagaID
	case events.HeaderCorrelationID:
		return events.HeaderCorrelationID
	case events.HeaderCausationID:
		return events.HeaderCausationID
	case events.HeaderActor:
		return events.HeaderActor
	case events.HeaderOccurredAt:
		return events.HeaderOccurredAt
	}
	return string(k)
}
