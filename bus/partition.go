package bus

import (
	"fmt"
	"hash/fnv"

	"github.com/IBM/sarama"
)

// Partitioner names the rule that picks a keyed record's partition. Every
// part of one deployment must use the same rule, because a saga's request,
// replies and log, and a service's commands and log, are found by it.
//
// A record that arrives on another partition than its key's (a client
// whose producer hashes differently) is not handled there: the consumer
// forwards it, rekeyed, to the partition the rule names (see Rekeyed), so
// a client's partitioner never splits a saga or a show.
type Partitioner string

const (
	// Murmur2 is Apache Kafka's default: (murmur2(key) & 0x7fffffff) % n,
	// as the Java client's DefaultPartitioner and BuiltInPartitioner, and
	// librdkafka's "murmur2_random". Deployments use it unless their logs
	// were first written with FNV1a.
	Murmur2 Partitioner = "murmur2"
	// FNV1a is sarama's default hash partitioner: FNV-1a 32 of the key as
	// a signed int32, modulo n, sign dropped. Logs written before saga
	// used Murmur2 are partitioned by it; such a deployment keeps it (see
	// DetectPartitioner), since its sagas' and shows' state lives on the
	// partitions FNV-1a picked.
	FNV1a Partitioner = "fnv1a"
)

// Validate refuses a rule saga does not know.
func (p Partitioner) Validate() error {
	switch p {
	case "", Murmur2, FNV1a:
		return nil
	}
	return fmt.Errorf("bus: unknown partitioner %q (want %s or %s)", string(p), Murmur2, FNV1a)
}

// Partition is the partition rule p picks for key among n partitions; the
// zero Partitioner is Murmur2. An empty key is published without a key (a
// random partition), so Partition("") says nothing about where such
// records are.
func (p Partitioner) Partition(key string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	if p == FNV1a {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key))
		q := int32(h.Sum32()) % n
		if q < 0 {
			q = -q
		}
		return q
	}
	return int32(Murmur2Hash([]byte(key))&0x7fffffff) % n
}

// constructor is the sarama partitioner that places records as Partition
// says.
func (p Partitioner) constructor() sarama.PartitionerConstructor {
	if p == FNV1a {
		return sarama.NewHashPartitioner
	}
	return sarama.NewMurmur2Partitioner
}

// PartitionFor is the partition Murmur2, the rule of a new deployment,
// picks for key among n partitions. Tools use it to find a saga's records
// without scanning every partition.
func PartitionFor(key string, partitions int32) int32 {
	return Murmur2.Partition(key, partitions)
}

// Murmur2Hash is the 32-bit murmur2 hash of the Kafka clients (seed
// 0x9747b28c), bit for bit as org.apache.kafka.common.utils.Utils.murmur2.
func Murmur2Hash(data []byte) uint32 {
	const (
		seed = uint32(0x9747b28c)
		m    = uint32(0x5bd1e995)
		r    = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
