package bus_test

import (
	"fmt"
	"testing"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
)

// The Java client's own vectors (UtilsTest.testMurmur2), as signed ints.
func TestMurmur2HashMatchesTheJavaClient(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want int32
	}{
		{"21", -973932308},
		{"foobar", -790332482},
		{"a-little-bit-long-string", -985981536},
		{"a-little-bit-longer-string", -1486304829},
		{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
		{"abc", 479470107},
	} {
		if got := int32(bus.Murmur2Hash([]byte(c.in))); got != c.want {
			t.Errorf("murmur2(%q) = %d, the Java client says %d", c.in, got, c.want)
		}
	}
}

func TestPartitionersMatchSarama(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		rule bus.Partitioner
		mk   sarama.PartitionerConstructor
	}{
		{bus.Murmur2, sarama.NewMurmur2Partitioner},
		{"", sarama.NewMurmur2Partitioner},
		{bus.FNV1a, sarama.NewHashPartitioner},
	} {
		for _, n := range []int32{1, 2, 3, 4, 7, 12, 64, 1000} {
			p := c.mk("any")
			for i := range 2000 {
				key := fmt.Sprintf("saga-%d-%x", i, i*7919)
				want, err := p.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
				if err != nil {
					t.Fatal(err)
				}
				if got := c.rule.Partition(key, n); got != want {
					t.Fatalf("%q.Partition(%q, %d) = %d, sarama says %d", c.rule, key, n, got, want)
				}
			}
		}
	}
	if got := bus.PartitionFor("show-1", 4); got != bus.Murmur2.Partition("show-1", 4) {
		t.Fatalf("PartitionFor is not murmur2: %d", got)
	}
}

func TestPartitionerValidate(t *testing.T) {
	t.Parallel()
	for _, ok := range []bus.Partitioner{"", bus.Murmur2, bus.FNV1a} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if err := bus.Partitioner("crc32").Validate(); err == nil {
		t.Error("crc32 accepted")
	}
}
