package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
)

// testLogger shows watermill's info and errors in the test log.
func testLogger(t testing.TB) watermill.LoggerAdapter {
	zl := zerolog.New(zerolog.NewConsoleWriter(zerolog.ConsoleTestWriter(t), func(w *zerolog.ConsoleWriter) {
		w.NoColor = true
		w.PartsExclude = []string{zerolog.TimestampFieldName}
	})).Level(zerolog.InfoLevel)
	return bus.NewWatermillLogger(zl)
}

func provision(t testing.TB, cfg bus.Config, specs ...bus.TopicSpec) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, cfg, specs); err != nil {
		t.Fatalf("provision: %v", err)
	}
}

// keyed builds a message with a partition key and one extra header.
func keyed(key, payload string) *message.Message {
	m := message.NewMessage(watermill.NewUUID(), []byte(payload))
	m.Metadata.Set(bus.MetaKey, key)
	m.Metadata.Set("type", "test.event")
	return m
}

func publish(t testing.TB, cfg bus.Config, topic string, msgs ...*message.Message) {
	t.Helper()
	pub, err := bus.NewPublisher(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("publisher: %v", err)
	}
	defer pub.Close()
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// receive takes n messages from ch, acking each, or fails after timeout.
func receive(t testing.TB, ch <-chan *message.Message, n int, timeout time.Duration) []*message.Message {
	t.Helper()
	var got []*message.Message
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed after %d of %d messages", len(got), n)
			}
			got = append(got, m)
			m.Ack()
		case <-deadline:
			t.Fatalf("received %d of %d messages within %v", len(got), n, timeout)
		}
	}
	return got
}

// committed returns the group's committed offset for one partition (-1
// when none).
func committed(t testing.TB, cfg bus.Config, group, topic string, partition int32) int64 {
	t.Helper()
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		t.Fatalf("sarama config: %v", err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		t.Fatalf("admin: %v", err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if err != nil {
		t.Fatalf("list offsets of %s: %v", group, err)
	}
	b := resp.GetBlock(topic, partition)
	if b == nil {
		return -1
	}
	if b.Err != sarama.ErrNoError {
		t.Fatalf("offset of %s %s/%d: %v", group, topic, partition, b.Err)
	}
	return b.Offset
}

func readAll(t testing.TB, cfg bus.Config, topic string) []bus.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []bus.Record
	if err := bus.ReadAll(ctx, cfg, topic, func(r bus.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatalf("read all %s: %v", topic, err)
	}
	return recs
}

func payloads(recs []bus.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

func describe(rs []bus.Record) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("%d/%d:%s ", r.Partition, r.Offset, r.Value)
	}
	return s
}
