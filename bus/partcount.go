package bus

import (
	"context"

	"github.com/IBM/sarama"
)

// PartitionCount returns how many partitions topic (a cluster name, already
// mapped through Config.Topic) has.
func PartitionCount(_ context.Context, cfg Config, topic string) (int32, error) {
	var n int32
	err := withConsumer(cfg, func(client sarama.Client, _ sarama.Consumer) error {
		parts, err := partitions(client, topic)
		n = int32(len(parts))
		return err
	})
	return n, err
}
