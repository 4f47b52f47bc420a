package bus

import (
	"fmt"

	"github.com/IBM/sarama"
)

// DeleteBefore deletes the records of topic/p below offset (Kafka's
// DeleteRecords: the partition's oldest offset moves up to it), for a
// topic whose owner decides what it no longer needs rather than a time
// retention, which knows nothing of what is still valid. The principal
// needs DELETE on the topic.
func (l *Log) DeleteBefore(topic string, p int32, offset int64) error {
	admin, err := sarama.NewClusterAdmin(l.cfg.Brokers, l.conf)
	if err != nil {
		return unreachable(l.cfg, err)
	}
	defer admin.Close()
	if err := admin.DeleteRecords(topic, map[int32]int64{p: offset}); err != nil {
		return fmt.Errorf("bus: delete the records of %s/%d below %d: %w", topic, p, offset, err)
	}
	return nil
}
