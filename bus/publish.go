package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"
)

// retryingPublisher is a client's publisher: see RetryingPublisher.
type retryingPublisher struct {
	message.Publisher
	cfg Config
}

// RetryingPublisher wraps pub, made with cfg, so that a Publish that fails
// with a transient error (Transient: a broker restarting, a leader
// moving) is made again with backoff for cfg.RetryBound, the producer
// refreshing its metadata between tries. Messages are sent again whole, so they
// must be safe to repeat: requests are, being deduplicated by their ids
// and idempotency keys.
func RetryingPublisher(cfg Config, pub message.Publisher) message.Publisher {
	return retryingPublisher{Publisher: pub, cfg: cfg}
}

func (p retryingPublisher) Publish(topic string, msgs ...*message.Message) error {
	err := RetryTransient(context.Background(), p.cfg.RetryBound(), nil, func(context.Context) error {
		return p.Publisher.Publish(topic, msgs...)
	})
	return err // named by NewPublisher's publisher
}

// namedPublisher names the topic and the broker's error of a failed
// Publish (WriteError).
type namedPublisher struct{ message.Publisher }

func (p namedPublisher) Publish(topic string, msgs ...*message.Message) error {
	return WriteError(topic, p.Publisher.Publish(topic, msgs...))
}

// WriteError is err, from a write to topic, with the topic and the
// broker's name for the error it answered (NOT_LEADER_OR_FOLLOWER,
// KAFKA_STORAGE_ERROR, ...), so that whoever reads it knows where and
// why, and errors.Is still finds sarama's error. sarama reports a batch
// that failed as "Failed to deliver N messages" alone: the first
// record's cause is brought out.
func WriteError(topic string, err error) error {
	if err == nil {
		return nil
	}
	var batch sarama.ProducerErrors
	if errors.As(err, &batch) && len(batch) > 0 {
		return fmt.Errorf("%d of the records: %w", len(batch), WriteError(topic, batch[0].Err))
	}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		return fmt.Errorf("bus: write to %s: the broker answered %s: %w", topic, KafkaErrorName(kerr), err)
	}
	return fmt.Errorf("bus: write to %s: %w", topic, err)
}

// kafkaErrorNames are the protocol's names of the errors a write or read
// meets most, as Kafka's own tools print them.
var kafkaErrorNames = map[sarama.KError]string{
	sarama.ErrUnknown:                         "UNKNOWN_SERVER_ERROR",
	sarama.ErrOffsetOutOfRange:                "OFFSET_OUT_OF_RANGE",
	sarama.ErrInvalidMessage:                  "CORRUPT_MESSAGE",
	sarama.ErrUnknownTopicOrPartition:         "UNKNOWN_TOPIC_OR_PARTITION",
	sarama.ErrLeaderNotAvailable:              "LEADER_NOT_AVAILABLE",
	sarama.ErrNotLeaderForPartition:           "NOT_LEADER_OR_FOLLOWER",
	sarama.ErrRequestTimedOut:                 "REQUEST_TIMED_OUT",
	sarama.ErrBrokerNotAvailable:              "BROKER_NOT_AVAILABLE",
	sarama.ErrReplicaNotAvailable:             "REPLICA_NOT_AVAILABLE",
	sarama.ErrMessageSizeTooLarge:             "MESSAGE_TOO_LARGE",
	sarama.ErrNetworkException:                "NETWORK_EXCEPTION",
	sarama.ErrNotEnoughReplicas:               "NOT_ENOUGH_REPLICAS",
	sarama.ErrNotEnoughReplicasAfterAppend:    "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
	sarama.ErrInvalidRequiredAcks:             "INVALID_REQUIRED_ACKS",
	sarama.ErrTopicAuthorizationFailed:        "TOPIC_AUTHORIZATION_FAILED",
	sarama.ErrClusterAuthorizationFailed:      "CLUSTER_AUTHORIZATION_FAILED",
	sarama.ErrNotController:                   "NOT_CONTROLLER",
	sarama.ErrKafkaStorageError:               "KAFKA_STORAGE_ERROR",
	sarama.ErrPolicyViolation:                 "POLICY_VIOLATION",
	sarama.ErrInvalidRecord:                   "INVALID_RECORD",
	sarama.ErrConsumerCoordinatorNotAvailable: "COORDINATOR_NOT_AVAILABLE",
	sarama.ErrNotCoordinatorForConsumer:       "NOT_COORDINATOR",
	sarama.ErrOffsetsLoadInProgress:           "COORDINATOR_LOAD_IN_PROGRESS",
}

// KafkaErrorName is the protocol's name of a broker's error code, or its
// number for one not listed.
func KafkaErrorName(k sarama.KError) string {
	if name, ok := kafkaErrorNames[k]; ok {
		return name
	}
	return fmt.Sprintf("error code %d", int16(k))
}
