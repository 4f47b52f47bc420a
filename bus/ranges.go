package bus

import (
	"context"
	"fmt"
	"sync"

	"github.com/IBM/sarama"
)

// Range is the offsets [From, End) of one partition of Topic (a cluster
// name); a negative End follows the partition instead.
type Range struct {
	Topic     string
	Partition int32
	From, End int64
}

// ReadRanges reads every range at once and returns nil when each bounded
// one is read, or the first error (fn's included); a followed range ends
// only with ctx, and then ReadRanges returns ctx's error.
//
// fn is called from one goroutine per range, in offset order within the
// range, with the range's index; a record's Headers map is reused for the
// range's next record, so fn copies what it keeps of it.
//
// Unlike ReadRange, this goes through sarama's consumer, which fetches
// every partition a broker leads in one request and long-polls for new
// records: the read models read tens of partitions at once and follow them.
// It opens a connection of its own: on the Log's, the offset requests made
// meanwhile would queue behind the long polls, and closing would wait for
// them.
func (l *Log) ReadRanges(ctx context.Context, ranges []Range, fn func(i int, r Record) error) error {
	if len(ranges) == 0 {
		return nil
	}
	client, err := newClient(l.cfg.Brokers, l.conf)
	if err != nil {
		return unreachable(l.cfg, err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("bus: create consumer: %w", err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pcs []sarama.PartitionConsumer
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
	}()
	errs := make(chan error, len(ranges))
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, r := range ranges {
		if r.End >= 0 && r.From >= r.End {
			continue
		}
		pc, err := consumer.ConsumePartition(r.Topic, r.Partition, r.From)
		if err != nil {
			cancel()
			return fmt.Errorf("bus: read %s/%d from %d: %w", r.Topic, r.Partition, r.From, err)
		}
		pcs = append(pcs, pc)
		wg.Go(func() {
			if err := drainPartition(ctx, pc, r, func(rec Record) error { return fn(i, rec) }); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// drainPartition delivers pc's records up to r.End (or for ever), one
// headers map for all of them.
func drainPartition(ctx context.Context, pc sarama.PartitionConsumer, r Range, fn func(Record) error) error {
	headers := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: read %s/%d: %w", r.Topic, r.Partition, ctx.Err())
		case err, ok := <-pc.Errors():
			if ok {
				return fmt.Errorf("bus: read %s/%d: %w", r.Topic, r.Partition, err)
			}
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("bus: read %s/%d: partition consumer stopped", r.Topic, r.Partition)
			}
			if r.End >= 0 && m.Offset >= r.End {
				return nil
			}
			if err := fn(toRecord(m, headers)); err != nil {
				return err
			}
			if r.End >= 0 && m.Offset >= r.End-1 {
				return nil
			}
		}
	}
}
