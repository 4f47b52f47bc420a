package bus

import (
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/sign"
)

// Metadata keys and header names shared by every saga message.
const (
	// MetaKey holds the Kafka record key: the partitioning key (e.g. the
	// saga id), so all records of one saga stay in order on one partition.
	MetaKey = "key"
	// HeaderID carries the Watermill message UUID, used for de-duplication.
	HeaderID = "id"
	// MetaTopic, MetaPartition and MetaOffset say where a consumed record
	// was read. They become headers only when set on an outgoing message,
	// which is what dead-lettering does so the copy keeps its origin.
	MetaTopic     = "kafka_topic"
	MetaPartition = "kafka_partition"
	MetaOffset    = "kafka_offset"
)

// Marshaler maps Watermill messages to Kafka records and back:
// metadata "key" <-> record key, UUID <-> header "id", any other metadata
// <-> header of the same name. With a Signer, every record it builds is
// signed (see signs), the signature and key id in headers.
type Marshaler struct {
	// Signer is the writing part's key; the records of a Marshaler without
	// one go unsigned. Trust holds the readers' keys; Namespace prefixes
	// the topics (a topic's readers are named by its unprefixed name).
	Signer    *sign.Key
	Trust     *sign.Keyring
	Namespace string
}

// MarshalerFor is the Marshaler of the part cfg is the connection of.
func MarshalerFor(cfg Config) Marshaler {
	return Marshaler{Signer: cfg.Signer, Trust: cfg.Trust, Namespace: cfg.Namespace}
}

var _ kafka.MarshalerUnmarshaler = Marshaler{}

// Marshal builds the record for topic. It refuses a metadata "id" that
// contradicts the UUID rather than writing two ids.
func (m Marshaler) Marshal(topic string, msg *message.Message) (*sarama.ProducerMessage, error) {
	if id, ok := msg.Metadata[HeaderID]; ok && id != msg.UUID {
		return nil, fmt.Errorf("bus: message %s: metadata %q=%q conflicts with the message UUID", msg.UUID, HeaderID, id)
	}
	headers := make([]sarama.RecordHeader, 0, len(msg.Metadata)+1)
	headers = append(headers, sarama.RecordHeader{Key: []byte(HeaderID), Value: []byte(msg.UUID)})
	for k, v := range msg.Metadata {
		if k == MetaKey || k == HeaderID {
			continue
		}
		headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	key := msg.Metadata.Get(MetaKey)
	if m.signs(msg.Metadata) {
		sigs, err := m.signatureOf(topic, key, msg.UUID, msg.Metadata, msg.Payload)
		if err != nil {
			return nil, fmt.Errorf("bus: sign message %s: %w", msg.UUID, err)
		}
		for k, v := range sigs {
			headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
	}
	pm := &sarama.ProducerMessage{
		Topic:   topic,
		Value:   sarama.ByteEncoder(msg.Payload),
		Headers: headers,
	}
	// An empty key means "no key": sarama then spreads records randomly
	// instead of piling every unkeyed record onto hash("").
	if key != "" {
		pm.Key = sarama.StringEncoder(key)
	}
	return pm, nil
}

// Unmarshal never fails: watermill-kafka treats an unmarshal error as fatal
// for the claim and would re-read the same record forever.
func (Marshaler) Unmarshal(rec *sarama.ConsumerMessage) (*message.Message, error) {
	var id string
	md := make(message.Metadata, len(rec.Headers)+4)
	for _, h := range rec.Headers {
		if h == nil {
			continue
		}
		if string(h.Key) == HeaderID {
			id = string(h.Value)
			continue
		}
		md[string(h.Key)] = string(h.Value)
	}
	if rec.Key != nil {
		md[MetaKey] = string(rec.Key)
	}
	// Where this copy was read wins over headers: a dead-lettered record's
	// origin stays readable in its raw headers (ReadAll), while consumers
	// always see the position they can act on.
	md[MetaTopic] = rec.Topic
	md[MetaPartition] = strconv.FormatInt(int64(rec.Partition), 10)
	md[MetaOffset] = strconv.FormatInt(rec.Offset, 10)

	msg := message.NewMessage(id, rec.Value)
	msg.Metadata = md
	return msg, nil
}
