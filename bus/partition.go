package bus

import "hash/fnv"

// PartitionFor is the partition sarama's default hash partitioner (the one
// the publisher uses) picks for key among n partitions: FNV-1a 32 of the
// key, as a signed int32, modulo n, sign dropped. Tools use it to find a
// saga's records without scanning every partition. An empty key is
// published without a key (random partition), so PartitionFor("") says
// nothing about where such records are.
func PartitionFor(key string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	p := int32(h.Sum32()) % partitions
	if p < 0 {
		p = -p
	}
	return p
}
