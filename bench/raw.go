package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
)

// RawResult is the rate of one raw run.
type RawResult struct {
	Client        string  `json:"client"` // "sarama" or "watermill" or "sarama-consume"
	Records       int     `json:"records"`
	Bytes         int64   `json:"bytes"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
}

// rawKeyRecords records share a key, about one saga's worth, so keys land on
// partitions the way sagas do.
const rawKeyRecords = 19

// rawPublishers publish concurrently in RawWatermill: Publish waits for each
// record's acks=all, so the rate is about publishers per round trip; 64 is
// more than the product's partition handlers ever have in flight, so the
// figure is a ceiling for them rather than a round-trip count.
const rawPublishers = 64

// rawHeaders stand in for the envelope: every saga record carries 8 headers
// (id, type, version, saga, correlation and causation ids, actor, time), about
// 300 bytes the broker stores and both clients encode and decode, so every raw
// record carries 8 headers of the same names and sizes, for a fair ratio.
var rawHeaders = []sarama.RecordHeader{
	{Key: []byte("id"), Value: []byte("0b9d3c7e-5a41-4f6b-9e2d-8c1a7f3e6b20")},
	{Key: []byte("type"), Value: []byte("booking.SeatsReserved")},
	{Key: []byte("version"), Value: []byte("1")},
	{Key: []byte("saga_id"), Value: []byte("7e2f0a6c-1d38-4b9a-a5c4-2f9e8d1b0c57")},
	{Key: []byte("correlation_id"), Value: []byte("BK-20260102-7F3K9Q-4M2X8P-1R6T0W-5ZL")},
	{Key: []byte("causation_id"), Value: []byte("c4a81e93-6b2d-4f07-8e5a-9d3c1b7f2a64")},
	{Key: []byte("actor"), Value: []byte("user:4f1c9e2a-7b3d8")},
	{Key: []byte("occurred_at"), Value: []byte("2026-01-02T15:04:05.123456789Z")},
}

// RawSarama produces n records to topic (a cluster topic name, created here
// with cfg.Partitions partitions if missing; callers pass a fresh name)
// through a sarama AsyncProducer with the product's settings (idempotent,
// acks=all), while a sarama consumer reads every partition from the oldest
// offset; it measures from the first send to the n-th record consumed.
// Record i has a value of sizes[i%len(sizes)] bytes and the key of its
// "saga" (i/19).
func RawSarama(ctx context.Context, cfg bus.Config, topic string, sizes []int, n int) (RawResult, error) {
	if err := checkRaw(ctx, cfg, topic, sizes, n); err != nil {
		return RawResult{}, err
	}
	consumer, err := openConsumer(cfg)
	if err != nil {
		return RawResult{}, err
	}
	defer consumer.close()
	ctx, cancel := context.WithCancelCause(ctx) // cancelled before the consumer closes
	defer cancel(nil)
	t := newTally(int64(n))
	if err := consumer.fromOldest(ctx, cancel, topic, t); err != nil {
		return RawResult{}, err
	}
	start := time.Now()
	if err := produceSarama(ctx, cancel, cfg, topic, newPayloads(sizes), n); err != nil {
		return RawResult{}, err
	}
	return t.result(ctx, "sarama", start)
}

// produceSarama sends n records and returns once each was acknowledged or
// failed; the first failure also cancels the run.
func produceSarama(ctx context.Context, cancel context.CancelCauseFunc, cfg bus.Config, topic string, p payloads, n int) error {
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return err
	}
	// Nothing waits on acks one by one: the consumer's count is the measure,
	// and failures still come back on Errors.
	conf.Producer.Return.Successes = false
	producer, err := sarama.NewAsyncProducer(cfg.Brokers, conf)
	if err != nil {
		return fmt.Errorf("bench: raw producer: %w", err)
	}
	var failed atomic.Pointer[sarama.ProducerError]
	var wg sync.WaitGroup
	wg.Go(func() {
		for e := range producer.Errors() {
			failed.CompareAndSwap(nil, e)
			cancel(fmt.Errorf("bench: produce: %w", e))
		}
	})
	for i := 0; i < n && ctx.Err() == nil; i++ {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(rawKey(i)), Value: sarama.ByteEncoder(p.value(i)), Headers: rawHeaders}
		select {
		case producer.Input() <- m:
		case <-ctx.Done():
		}
	}
	err = producer.Close() // flushes; its errors are the ones Errors did not carry
	wg.Wait()
	if e := failed.Load(); e != nil {
		return fmt.Errorf("bench: produce: %w", e)
	}
	if err != nil {
		return fmt.Errorf("bench: produce: %w", err)
	}
	return nil
}

// RawWatermill does what RawSarama does through the product's watermill
// publisher, with rawPublishers publishing concurrently (each the records of
// its own keys) so it is not bound by one round trip per record, and a
// watermill-kafka subscriber that acks every message.
//
// The subscriber reads without a consumer group: in a group it commits each
// ack synchronously, and on the one broker connection that commit waits out
// the consumer's fetch long-poll (up to 500 ms), which caps it near 20
// records/s. The product's consumers (bus.Group) commit every 200 ms instead.
func RawWatermill(ctx context.Context, cfg bus.Config, topic string, sizes []int, n int) (RawResult, error) {
	if err := checkRaw(ctx, cfg, topic, sizes, n); err != nil {
		return RawResult{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		return RawResult{}, err
	}
	defer pub.Close()
	sub, err := bus.NewSubscriber(cfg, "", watermill.NopLogger{})
	if err != nil {
		return RawResult{}, err
	}
	defer sub.Close()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return RawResult{}, fmt.Errorf("bench: subscribe %s: %w", topic, err)
	}
	t := newTally(int64(n))
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (deferred later, so run first) stops them
	defer cancel(nil)
	for w := range rawPublishers {
		wg.Go(func() { publishKeys(ctx, cancel, pub, topic, newPayloads(sizes), n, w) })
	}
	go ackAll(ctx, msgs, t)
	return t.result(ctx, "watermill", start)
}

// publishKeys publishes, in order, the records of every rawPublishers-th key
// starting at key w; the first failure cancels the run.
func publishKeys(ctx context.Context, cancel context.CancelCauseFunc, pub message.Publisher, topic string, p payloads, n, w int) {
	for i := w * rawKeyRecords; i < n; i += rawPublishers * rawKeyRecords {
		for j := i; j < min(i+rawKeyRecords, n); j++ {
			if ctx.Err() != nil {
				return
			}
			if err := pub.Publish(topic, rawMessage(p, j)); err != nil {
				cancel(fmt.Errorf("bench: publish: %w", err))
				return
			}
		}
	}
}

// rawMessage is record i as a watermill message: the marshaler adds the id
// header from the UUID, the metadata carries the other seven and the key.
func rawMessage(p payloads, i int) *message.Message {
	m := message.NewMessage(uuid.NewString(), p.value(i))
	for _, h := range rawHeaders[1:] {
		m.Metadata[string(h.Key)] = string(h.Value)
	}
	m.Metadata[bus.MetaKey] = rawKey(i)
	return m
}

// ackAll acks and counts every delivered message until ctx ends.
func ackAll(ctx context.Context, msgs <-chan *message.Message, t *tally) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			m.Ack()
			t.add(len(m.Payload))
		}
	}
}

// RawConsume reads the given cluster topics whole, from the oldest offset to
// the end offset as it stood at the call, every partition concurrently, as
// a projection rebuild reads them: the denominator of the replay ratio.
func RawConsume(ctx context.Context, cfg bus.Config, topics []string) (RawResult, error) {
	if len(topics) == 0 {
		return RawResult{}, errors.New("bench: no topics to consume")
	}
	consumer, err := openConsumer(cfg)
	if err != nil {
		return RawResult{}, err
	}
	defer consumer.close()
	ranges, err := consumer.ranges(topics)
	if err != nil {
		return RawResult{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := newTally(0)
	var wg sync.WaitGroup
	start := time.Now()
	for _, r := range ranges {
		if err := consumer.consume(ctx, cancel, r, t, &wg); err != nil {
			return RawResult{}, err
		}
	}
	go func() { wg.Wait(); t.finish() }()
	return t.result(ctx, "sarama-consume", start)
}

// checkRaw refuses bad input, then creates topic unless it exists.
func checkRaw(ctx context.Context, cfg bus.Config, topic string, sizes []int, n int) error {
	if n <= 0 {
		return fmt.Errorf("bench: record count must be > 0, got %d", n)
	}
	if len(sizes) == 0 {
		return errors.New("bench: no value sizes")
	}
	for _, s := range sizes {
		if s < 0 {
			return fmt.Errorf("bench: value size must be >= 0, got %d", s)
		}
	}
	cfg.Namespace = "" // topic is a cluster name already
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: topic}}); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return waitLeaders(cfg, topic)
}

// waitLeaders returns once every partition's leader answers for it: just
// after a topic is created, Apache Kafka's may not know it leads yet, and
// a consumer opened then fails (bus.Offset waits that out).
func waitLeaders(cfg bus.Config, topic string) error {
	c, err := openConsumer(cfg)
	if err != nil {
		return err
	}
	defer c.close()
	_, err = c.ranges([]string{topic})
	return err
}

// payloads hands out values of the given sizes, all slices of one buffer:
// making values is not what is measured.
type payloads struct {
	sizes []int
	buf   []byte
}

func newPayloads(sizes []int) payloads {
	buf := make([]byte, max(0, maxOf(sizes)))
	for i := range buf {
		buf[i] = byte('a' + i%26)
	}
	return payloads{sizes: sizes, buf: buf}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

// value is record i's value: sizes[i%len(sizes)] bytes.
func (p payloads) value(i int) []byte { return p.buf[:p.sizes[i%len(p.sizes)]] }

// rawKey is record i's key: its "saga", shared by rawKeyRecords records.
func rawKey(i int) string { return strconv.Itoa(i / rawKeyRecords) }

// tally counts records consumed by several goroutines and notes when the
// last one arrived: the want-th, or the last of the ranges (finish).
type tally struct {
	want    int64 // 0: finish says when
	records atomic.Int64
	bytes   atomic.Int64
	once    sync.Once
	// Written once, before done is closed.
	end          time.Time
	nrec, nbytes int64
	done         chan struct{}
}

func newTally(want int64) *tally { return &tally{want: want, done: make(chan struct{})} }

// add counts one record; bytes first, so they are complete once done is.
func (t *tally) add(valueLen int) {
	t.bytes.Add(int64(valueLen))
	if t.records.Add(1) == t.want {
		t.finish()
	}
}

func (t *tally) finish() {
	t.once.Do(func() {
		t.end = time.Now()
		t.nrec, t.nbytes = t.records.Load(), t.bytes.Load()
		close(t.done)
	})
}

// result waits for the last record, or for ctx and its cause.
func (t *tally) result(ctx context.Context, client string, start time.Time) (RawResult, error) {
	select {
	case <-t.done:
	case <-ctx.Done():
		return RawResult{}, fmt.Errorf("bench: %s: %d records consumed (want %d): %w", client, t.records.Load(), t.want, context.Cause(ctx))
	}
	secs := t.end.Sub(start).Seconds()
	r := RawResult{Client: client, Records: int(t.nrec), Bytes: t.nbytes, Seconds: secs}
	if t.want > 0 {
		r.Records = int(t.want) // not the records read since, of a topic that was not fresh
	}
	if secs > 0 {
		r.RecordsPerSec = float64(r.Records) / secs
	}
	return r, nil
}

// rawConsumer is a sarama consumer with its own client (so its fetches do
// not queue behind a producer's requests on a shared connection).
type rawConsumer struct {
	client   sarama.Client
	consumer sarama.Consumer
	pcs      []sarama.PartitionConsumer
}

func openConsumer(cfg bus.Config) (*rawConsumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, conf)
	if err != nil {
		return nil, fmt.Errorf("bench: connect: %w", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("bench: consumer: %w", err)
	}
	return &rawConsumer{client: client, consumer: consumer}, nil
}

func (c *rawConsumer) close() {
	for _, pc := range c.pcs {
		pc.AsyncClose()
	}
	c.consumer.Close()
	c.client.Close()
}

// partRange is offsets [from, end) of one partition.
type partRange struct {
	topic     string
	partition int32
	from, end int64
}

// ranges are every non-empty partition of topics as they stand now.
func (c *rawConsumer) ranges(topics []string) ([]partRange, error) {
	var out []partRange
	for _, topic := range topics {
		parts, err := c.client.Partitions(topic)
		if err != nil {
			return nil, fmt.Errorf("bench: partitions of %s: %w", topic, err)
		}
		for _, p := range parts {
			r := partRange{topic: topic, partition: p}
			if r.from, err = bus.Offset(c.client, topic, p, sarama.OffsetOldest); err == nil {
				r.end, err = bus.Offset(c.client, topic, p, sarama.OffsetNewest)
			}
			if err != nil {
				return nil, fmt.Errorf("bench: offsets of %s/%d: %w", topic, p, err)
			}
			if r.from < r.end {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// fromOldest consumes every partition of topic from its oldest offset,
// without end, into t.
func (c *rawConsumer) fromOldest(ctx context.Context, cancel context.CancelCauseFunc, topic string, t *tally) error {
	parts, err := c.client.Partitions(topic)
	if err != nil {
		return fmt.Errorf("bench: partitions of %s: %w", topic, err)
	}
	var wg sync.WaitGroup // nobody waits: t says when the run is done
	for _, p := range parts {
		// bus.Offset waits out a leader that does not yet know it leads
		// (the topic was just created), which ConsumePartition would not.
		from, err := bus.Offset(c.client, topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("bench: oldest offset of %s/%d: %w", topic, p, err)
		}
		r := partRange{topic: topic, partition: p, from: from, end: -1}
		if err := c.consume(ctx, cancel, r, t, &wg); err != nil {
			return err
		}
	}
	return nil
}

// consume counts r's records into t from a goroutine of its own (in wg),
// until it has read offset end-1 (never, when end < 0) or ctx ends; a
// failure cancels the run.
func (c *rawConsumer) consume(ctx context.Context, cancel context.CancelCauseFunc, r partRange, t *tally, wg *sync.WaitGroup) error {
	pc, err := c.consumer.ConsumePartition(r.topic, r.partition, r.from)
	if err != nil {
		return fmt.Errorf("bench: consume %s/%d: %w", r.topic, r.partition, err)
	}
	c.pcs = append(c.pcs, pc)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-pc.Errors():
				cancel(fmt.Errorf("bench: consume %s/%d: %w", r.topic, r.partition, err))
				return
			case m, ok := <-pc.Messages():
				if !ok {
					cancel(fmt.Errorf("bench: consume %s/%d: partition consumer stopped", r.topic, r.partition))
					return
				}
				if r.end >= 0 && m.Offset >= r.end {
					return // written after the call
				}
				t.add(len(m.Value))
				if r.end >= 0 && m.Offset >= r.end-1 {
					return
				}
			}
		}
	})
	return nil
}
