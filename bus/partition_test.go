package bus_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

func TestPartitionForMatchesSaramaHashPartitioner(t *testing.T) {
	t.Parallel()
	for _, n := range []int32{1, 2, 3, 4, 7, 12, 64, 1000} {
		p := sarama.NewHashPartitioner("any")
		for i := range 2000 {
			key := fmt.Sprintf("saga-%d-%x", i, i*7919)
			want, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := bus.PartitionFor(key, n); got != want {
				t.Fatalf("PartitionFor(%q, %d) = %d, sarama says %d", key, n, got, want)
			}
		}
	}
}
