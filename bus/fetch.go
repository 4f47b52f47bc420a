package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// ReadRange delivers the records of topic/p (a cluster name) from offset
// from (clamped to the oldest one stored) up to, not including, end; a
// negative end means the high-water mark when the call starts. An error
// from fn stops the read and is returned.
//
// It sends fetch requests to the partition's leader itself, through the
// log's client, the next one while fn handles the records of the last: a
// recovery reads three ranges per partition one after the other (the
// snapshot's last chunk, its other chunks, the events after it), and
// sarama's consumer waits 100 ms to batch every new subscription. saga
// writes no transactions: every offset is a record, and transaction markers
// are skipped.
func (l *Log) ReadRange(ctx context.Context, topic string, p int32, from, end int64, fn func(Record) error) error {
	start, err := Offset(l.client, topic, p, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("bus: oldest offset of %s/%d: %w", topic, p, err)
	}
	if end < 0 {
		if end, err = Offset(l.client, topic, p, sarama.OffsetNewest); err != nil {
			return fmt.Errorf("bus: high-water mark of %s/%d: %w", topic, p, err)
		}
	}
	from = max(from, start)
	if from >= end {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type fetched struct {
		recs []Record
		err  error
	}
	// One fetch ahead of fn.
	ch := make(chan fetched, 1)
	go func() {
		defer close(ch)
		f := fetcher{client: l.client, topic: topic, p: p, next: from, end: end, size: fetchBytes}
		for f.next < end {
			recs, err := f.fetch()
			select {
			case ch <- fetched{recs, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: read %s/%d: %w", topic, p, ctx.Err())
		case f, ok := <-ch:
			if !ok {
				return nil
			}
			if f.err != nil {
				return fmt.Errorf("bus: read %s/%d: %w", topic, p, f.err)
			}
			for _, r := range f.recs {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
	}
}

// fetchBytes is how much one fetch asks for from one partition; the broker
// returns a larger batch whole (and an old one says it is partial, and the
// fetch is made again up to maxFetchBytes). Larger fetches read no faster
// and a recovery's heap grows with them: 4 MiB tripled its peak.
const (
	fetchBytes    = 1 << 20
	maxFetchBytes = 256 << 20
)

var errNoProgress = errors.New("a fetch returned nothing below the high-water mark")

// fetcher fetches the records of one partition in order.
type fetcher struct {
	client    sarama.Client
	topic     string
	p         int32
	next, end int64
	size      int32
}

// fetch returns the next records, at least one unless an error occurs;
// leadership changes are retried with fresh metadata for a while.
func (f *fetcher) fetch() ([]Record, error) {
	wait := 50 * time.Millisecond
	for try := 0; ; try++ {
		next, size := f.next, f.size
		recs, err := f.fetchOnce()
		switch {
		case err == nil && len(recs) > 0:
			return recs, nil
		case err == nil && f.next >= f.end:
			return nil, nil
		case err == nil && (f.next > next || (f.size > size && f.size <= maxFetchBytes)):
			continue // transaction markers skipped, or a larger batch to fetch
		case err == nil:
			err = errNoProgress
		}
		var kerr sarama.KError
		if try >= 8 || !(errors.Is(err, errNoProgress) || (errors.As(err, &kerr) && retriableFetch(kerr))) {
			return nil, err
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
		_ = f.client.RefreshMetadata(f.topic)
	}
}

func retriableFetch(err sarama.KError) bool {
	switch err {
	case sarama.ErrNotLeaderForPartition, sarama.ErrLeaderNotAvailable, sarama.ErrUnknownLeaderEpoch,
		sarama.ErrFencedLeaderEpoch, sarama.ErrOffsetNotAvailable, sarama.ErrReplicaNotAvailable, sarama.ErrRequestTimedOut:
		return true
	}
	return false
}

func (f *fetcher) fetchOnce() ([]Record, error) {
	broker, err := f.client.Leader(f.topic, f.p)
	if err != nil {
		return nil, err
	}
	// The request sarama's consumer sends for the protocol version
	// configured (3.6: fetch version 12), without fetch sessions.
	req := &sarama.FetchRequest{Version: fetchVersion(f.client.Config().Version), MinBytes: 1, MaxWaitTime: 0,
		MaxBytes: sarama.MaxResponseSize, Isolation: sarama.ReadCommitted, SessionID: 0, SessionEpoch: -1}
	req.AddBlock(f.topic, f.p, f.next, f.size, -1)
	resp, err := broker.Fetch(req)
	if err != nil {
		var kerr sarama.KError
		if !errors.As(err, &kerr) {
			_ = broker.Close() // the connection failed: the next Leader call opens it again
		}
		return nil, err
	}
	block := resp.GetBlock(f.topic, f.p)
	if block == nil {
		return nil, sarama.ErrIncompleteResponse
	}
	if !errors.Is(block.Err, sarama.ErrNoError) {
		return nil, block.Err
	}
	var out []Record
	grown := false
	for _, set := range block.RecordsSet {
		if set.RecordBatch == nil {
			if set.MsgSet != nil && len(set.MsgSet.Messages) > 0 {
				return nil, errors.New("a record in the pre-0.11 message format")
			}
			continue
		}
		b := set.RecordBatch
		if b.PartialTrailingRecord {
			if len(out) == 0 && !grown {
				f.size *= 2 // a batch larger than the fetch: ask for more
				grown = true
			}
			break
		}
		if b.Control {
			f.next = max(f.next, b.LastOffset()+1)
			continue
		}
		for _, rec := range b.Records {
			off := b.FirstOffset + rec.OffsetDelta
			if off < f.next {
				continue
			}
			if off >= f.end {
				f.next = f.end
				return out, nil
			}
			ts := b.FirstTimestamp.Add(rec.TimestampDelta)
			if b.LogAppendTime {
				ts = b.MaxTimestamp
			}
			headers := make(map[string]string, len(rec.Headers))
			for _, h := range rec.Headers {
				if h != nil {
					headers[string(h.Key)] = string(h.Value)
				}
			}
			out = append(out, Record{Topic: f.topic, Partition: f.p, Offset: off, Key: rec.Key,
				Headers: headers, Value: rec.Value, Timestamp: ts})
			f.next = off + 1
		}
		// Records compacted away leave gaps: go on after the batch.
		f.next = max(f.next, b.LastOffset()+1)
	}
	return out, nil
}

// fetchVersion is the fetch request version sarama's consumer uses for a
// Kafka version, among those that read committed records only.
func fetchVersion(v sarama.KafkaVersion) int16 {
	switch {
	case v.IsAtLeast(sarama.V2_7_0_0):
		return 12
	case v.IsAtLeast(sarama.V2_3_0_0):
		return 11
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 10
	default:
		return 4
	}
}
