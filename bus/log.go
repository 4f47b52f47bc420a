package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Log is one connection to the cluster for reading logs by offset:
// partitions, bounds, ranges (ReadRange), many partitions at once or
// followed (ReadRanges), and, when opened with Writes, writing records to
// the partition each names (Write). Orchestrator recovery, the read models
// and replay all read through it. Topics are cluster names, already mapped
// through Config.Topic.
type Log struct {
	cfg      Config
	conf     *sarama.Config
	client   sarama.Client
	producer sarama.SyncProducer
}

// LogOptions say what else a Log does besides reading.
type LogOptions struct {
	// Writes opens a producer for Write: each record goes to the partition
	// it names, LZ4-compressed (snapshots repeat names and fields).
	Writes bool
}

// OpenLog connects to the cluster of cfg; Close disconnects.
func OpenLog(cfg Config, opts LogOptions) (*Log, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	if opts.Writes {
		conf.Producer.Partitioner = sarama.NewManualPartitioner
		conf.Producer.Compression = sarama.CompressionLZ4
	}
	client, err := newClient(cfg.Brokers, conf)
	if err != nil {
		return nil, unreachable(cfg, err)
	}
	l := &Log{cfg: cfg, conf: conf, client: client}
	if opts.Writes {
		if l.producer, err = sarama.NewSyncProducerFromClient(client); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("bus: producer: %w", err)
		}
	}
	return l, nil
}

// Close closes the producer, if any, and the connection.
func (l *Log) Close() error {
	var errs []error
	if l.producer != nil {
		errs = append(errs, l.producer.Close())
	}
	return errors.Join(append(errs, l.client.Close())...)
}

// ErrUnknownTopic is what reading or writing a topic that does not exist
// returns (wrapped; errors.Is finds it).
var ErrUnknownTopic = sarama.ErrUnknownTopicOrPartition

// Partitions of topic, sorted. A topic that does not exist is an error
// that wraps ErrUnknownTopic.
func (l *Log) Partitions(topic string) ([]int32, error) {
	return partitions(l.client, topic)
}

// Bounds returns the oldest stored offset of topic/p and its high-water
// mark.
func (l *Log) Bounds(topic string, p int32) (oldest, end int64, err error) {
	return bounds(l.client, topic, p)
}

// End returns the high-water mark of topic/p: the offset the next record
// written gets.
func (l *Log) End(topic string, p int32) (int64, error) {
	end, err := Offset(l.client, topic, p, sarama.OffsetNewest)
	if err != nil {
		return 0, fmt.Errorf("bus: high-water mark of %s/%d: %w", topic, p, err)
	}
	return end, nil
}

// errFound stops a read at the record it was looking for.
var errFound = errors.New("found")

// RecordAt returns the record of topic/p at offset at, or the first one
// after it when at was compacted away or is a transaction marker; an error
// when there is none below the high-water mark.
func (l *Log) RecordAt(ctx context.Context, topic string, p int32, at int64) (Record, error) {
	var rec Record
	found := false
	err := l.ReadRange(ctx, topic, p, at, -1, func(r Record) error {
		rec, found = r, true
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return Record{}, err
	}
	if !found {
		return Record{}, fmt.Errorf("bus: no record at or after offset %d of %s/%d", at, topic, p)
	}
	return rec, nil
}

// Header is one record header, for Write.
type Header struct{ Key, Value string }

// OutRecord is a record to write to the partition it names.
type OutRecord struct {
	Topic     string
	Partition int32
	Value     []byte
	Headers   []Header
}

// Write writes recs, in order, each to its own partition, and returns the
// offset each got. The Log must have been opened with Writes.
func (l *Log) Write(recs []OutRecord) ([]int64, error) {
	if l.producer == nil {
		return nil, errors.New("bus: log opened without Writes")
	}
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		hs := make([]sarama.RecordHeader, len(r.Headers), len(r.Headers)+2)
		md := make(message.Metadata, len(r.Headers))
		for j, h := range r.Headers {
			hs[j] = sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)}
			md[h.Key] = h.Value
		}
		if m := MarshalerFor(l.cfg); m.signs(md) {
			sigs, err := m.signatureOf(r.Topic, "", "", md, r.Value)
			if err != nil {
				return nil, err
			}
			for k, v := range sigs {
				hs = append(hs, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		msgs[i] = &sarama.ProducerMessage{Topic: r.Topic, Partition: r.Partition, Value: sarama.ByteEncoder(r.Value), Headers: hs}
	}
	var err error
	if len(msgs) == 1 {
		_, _, err = l.producer.SendMessage(msgs[0])
	} else {
		err = l.producer.SendMessages(msgs)
	}
	if err != nil {
		return nil, WriteError(recs[0].Topic, err)
	}
	offs := make([]int64, len(msgs))
	for i, m := range msgs {
		offs[i] = m.Offset
	}
	return offs, nil
}

// Send writes one record to topic, partitioned by key like every other
// keyed record, with a producer of its own: for the rare write outside a
// running part, such as an operator's redrive of a dead letter. It returns
// where the record landed.
func Send(cfg Config, topic, key string, value []byte, headers []Header) (partition int32, offset int64, err error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return 0, 0, err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return 0, 0, err
	}
	prod, err := sarama.NewSyncProducer(cfg.Brokers, conf)
	if err != nil {
		return 0, 0, fmt.Errorf("connect: %w", err)
	}
	defer prod.Close()
	pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
	if key != "" {
		pm.Key = sarama.StringEncoder(key)
	}
	for _, h := range headers {
		pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)})
	}
	return prod.SendMessage(pm)
}
