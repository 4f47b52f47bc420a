package bench

import (
	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

// offsets reads the high-water marks of whole topics, so the records every
// part of the system wrote during a run are counted at the broker, not by
// the parts themselves.
type offsets struct {
	client sarama.Client
	topics []string
	parts  map[string][]int32
}

func newOffsets(cfg bus.Config, topics []string) (*offsets, error) {
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	client, err := sarama.NewClient(cfg.Brokers, conf)
	if err != nil {
		return nil, err
	}
	o := &offsets{client: client, topics: topics, parts: map[string][]int32{}}
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil {
			client.Close()
			return nil, err
		}
		o.parts[t] = ps
	}
	return o, nil
}

// ends returns the high-water mark of every partition, by topic.
func (o *offsets) ends() (map[string][]int64, error) {
	out := map[string][]int64{}
	for _, t := range o.topics {
		for _, p := range o.parts[t] {
			end, err := bus.Offset(o.client, t, p, sarama.OffsetNewest)
			if err != nil {
				return nil, err
			}
			out[t] = append(out[t], end)
		}
	}
	return out, nil
}

// total sums the records between two readings of ends, per topic and in all.
func total(from, to map[string][]int64) (map[string]int64, int64) {
	per := map[string]int64{}
	var all int64
	for t, ends := range to {
		for i, end := range ends {
			d := end - from[t][i]
			per[t] += d
			all += d
		}
	}
	return per, all
}

func (o *offsets) Close() error { return o.client.Close() }
