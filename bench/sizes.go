package bench

import (
	"errors"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

// sampleSizes reads up to perTopic records a topic wrote during a run and
// returns their sizes (value plus headers), each topic weighted by how many
// records it wrote: the raw pipeline then moves records of the same sizes
// in the same proportions.
func sampleSizes(cfg bus.Config, from, to map[string][]int64, written map[string]int64) ([]int, error) {
	const perTopic = 50
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	consumer, err := sarama.NewConsumer(cfg.Brokers, conf)
	if err != nil {
		return nil, err
	}
	defer consumer.Close()
	var total int64
	for _, n := range written {
		total += n
	}
	var out []int
	for short, n := range written {
		topic := cfg.Topic(short)
		sizes, err := readSizes(consumer, topic, from[topic], to[topic], perTopic)
		if err != nil || len(sizes) == 0 {
			return nil, err
		}
		// 1000 sizes in all, shared by the topics' record counts.
		share := max(1, int(1000*n/total))
		for i := range share {
			out = append(out, sizes[i%len(sizes)])
		}
	}
	return out, nil
}

// readSizes reads up to limit record sizes from the first partition that
// has records between its offsets in from and to.
func readSizes(consumer sarama.Consumer, topic string, from, to []int64, limit int) ([]int, error) {
	for p, off := range from {
		if to[p] <= off {
			continue
		}
		limit := min(int64(limit), to[p]-off)
		pc, err := consumer.ConsumePartition(topic, int32(p), off)
		if errors.Is(err, sarama.ErrOffsetOutOfRange) {
			// The orchestrator deletes superseded snapshots as it goes: the
			// run's first ones may be gone already.
			pc, err = consumer.ConsumePartition(topic, int32(p), sarama.OffsetOldest)
		}
		if err != nil {
			return nil, err
		}
		var sizes []int
		timeout := time.After(10 * time.Second)
	read:
		for int64(len(sizes)) < limit {
			select {
			case m := <-pc.Messages():
				size := len(m.Value)
				for _, h := range m.Headers {
					size += len(h.Key) + len(h.Value)
				}
				sizes = append(sizes, size)
			case <-timeout:
				break read
			}
		}
		pc.AsyncClose()
		if len(sizes) > 0 {
			return sizes, nil
		}
	}
	return nil, nil
}
