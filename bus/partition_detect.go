package bus

import (
	"context"
	"errors"
	"strconv"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/sign"
)

// detectSample is how many of the oldest records of each partition
// DetectPartitioner looks at. With four partitions a record tells the
// rules apart three times in four, so a few dozen settle it.
const detectSample = 64

// DetectPartitioner says which rule placed the keyed records already in
// topics (cluster names, mapped through Config.Topic): the first record
// whose partition one rule explains and the other does not decides. Empty
// topics, or records both rules explain, give Murmur2, the rule of a new
// deployment.
//
// Logs written before saga partitioned by Murmur2 were placed by FNV1a.
// Their sagas, and the booking service's seats per show, live on the
// partitions FNV-1a picked: moving to Murmur2 would strand a running saga
// and let a show's seats be counted twice on two partitions. Such a
// deployment therefore keeps FNV1a; whatever a client's producer uses,
// records still reach the right partition because consumers forward the
// ones that arrive elsewhere.
func DetectPartitioner(ctx context.Context, cfg Config, topics ...string) (Partitioner, error) {
	found := Partitioner("")
	l, err := OpenLog(cfg, LogOptions{})
	if err != nil {
		return "", err
	}
	defer l.Close()
	err = func() error {
		for _, topic := range topics {
			parts, err := l.Partitions(topic)
			if err != nil {
				return err
			}
			n := int32(len(parts))
			for _, p := range parts {
				start, end, err := l.Bounds(topic, p)
				if err != nil {
					return err
				}
				end = min(end, start+detectSample)
				if start >= end {
					continue
				}
				err = l.ReadRange(ctx, topic, p, start, end, func(r Record) error {
					if len(r.Key) == 0 {
						return nil
					}
					m, f := Murmur2.Partition(string(r.Key), n) == p, FNV1a.Partition(string(r.Key), n) == p
					switch {
					case m && !f:
						found = Murmur2
					case f && !m:
						found = FNV1a
					default:
						return nil
					}
					return errDecided
				})
				if found != "" {
					return nil
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	}()
	if err != nil {
		return "", err
	}
	if found == "" {
		found = Murmur2
	}
	return found, nil
}

// errDecided stops a read once a record has decided.
var errDecided = errors.New("bus: partitioner decided")

// Metadata added to a record forwarded by Rekeyed, naming where it arrived.
const (
	MetaReroutedFromPartition = "rerouted_from_partition"
	MetaReroutedFromOffset    = "rerouted_from_offset"
)

// Rekeyed is a copy of a consumed message to publish again keyed by key,
// so the partitioner sends it to the partition key belongs to: same id,
// payload and headers, without where the original was read (which would
// otherwise become headers), with where it arrived in
// MetaReroutedFromPartition and MetaReroutedFromOffset.
func Rekeyed(msg *message.Message, key string) *message.Message {
	out := message.NewMessage(msg.UUID, msg.Payload)
	for k, v := range msg.Metadata {
		switch k {
		case MetaTopic, MetaPartition, MetaOffset:
			continue
		}
		out.Metadata[k] = v
	}
	if key != msg.Metadata.Get(MetaKey) {
		// The signature covers the key: the forwarding part signs the copy.
		for k := range out.Metadata {
			if sign.IsHeader(k) {
				delete(out.Metadata, k)
			}
		}
	}
	out.Metadata[MetaKey] = key
	out.Metadata[MetaReroutedFromPartition] = msg.Metadata.Get(MetaPartition)
	out.Metadata[MetaReroutedFromOffset] = msg.Metadata.Get(MetaOffset)
	return out
}

// Arrived is the partition a consumed message was read from, false when
// the message does not say.
func Arrived(msg *message.Message) (int32, bool) {
	p, err := strconv.ParseInt(msg.Metadata.Get(MetaPartition), 10, 32)
	return int32(p), err == nil
}
