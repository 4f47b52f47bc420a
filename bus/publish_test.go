package bus_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
)

// A failed write names its topic and the broker's error, also for a batch,
// which sarama reports as a count alone.
func TestWriteErrorNamesTheTopicAndTheCause(t *testing.T) {
	t.Parallel()
	batch := sarama.ProducerErrors{{Err: sarama.ErrNotEnoughReplicas}, {Err: sarama.ErrNotEnoughReplicas}}
	for _, c := range []struct {
		err  error
		want string
	}{
		{sarama.ErrKafkaStorageError, "bus: write to saga.events: the broker answered KAFKA_STORAGE_ERROR: "},
		{batch, "2 of the records: bus: write to saga.events: the broker answered NOT_ENOUGH_REPLICAS: "},
		{errors.New("dial tcp: refused"), "bus: write to saga.events: dial tcp: refused"},
	} {
		got := bus.WriteError("saga.events", c.err)
		if !strings.HasPrefix(got.Error(), c.want) {
			t.Errorf("%v: %q, want it to start %q", c.err, got, c.want)
		}
	}
	if !errors.Is(bus.WriteError("t", batch), sarama.ErrNotEnoughReplicas) {
		t.Error("the batch's cause is not found by errors.Is")
	}
}

// A publisher's write that Kafka refuses says where and why.
func TestPublishErrorSaysWhereAndWhy(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "big"})
	pub, err := bus.NewPublisher(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	err = pub.Publish(cfg.Topic("big"), message.NewMessage("too-big", make([]byte, 2<<20)))
	if err == nil || !strings.Contains(err.Error(), "write to "+cfg.Topic("big")) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 2 MiB record: %v", err)
	}
}
