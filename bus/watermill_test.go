package bus_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
)

func TestPublishSubscribeRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "rt"})
	topic := cfg.Topic("rt")

	sent := map[string]*message.Message{}
	var msgs []*message.Message
	for i := range 12 {
		m := keyed(fmt.Sprintf("saga-%d", i%5), fmt.Sprintf("p%d", i))
		sent[m.UUID] = m
		msgs = append(msgs, m)
	}
	publish(t, cfg, topic, msgs...)

	sub, err := bus.NewSubscriber(cfg, "rt-group", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	got := receive(t, ch, len(msgs), 30*time.Second)

	lastOffset := map[int32]int64{}
	for _, m := range got {
		s, ok := sent[m.UUID]
		if !ok {
			t.Fatalf("unexpected message %s", m.UUID)
		}
		key := s.Metadata.Get(bus.MetaKey)
		if string(m.Payload) != string(s.Payload) || m.Metadata.Get(bus.MetaKey) != key || m.Metadata.Get("type") != "test.event" {
			t.Errorf("message %s: payload %q key %q type %q", m.UUID, m.Payload, m.Metadata.Get(bus.MetaKey), m.Metadata.Get("type"))
		}
		if m.Metadata.Get(bus.MetaTopic) != topic {
			t.Errorf("kafka_topic = %q", m.Metadata.Get(bus.MetaTopic))
		}
		part, err1 := strconv.ParseInt(m.Metadata.Get(bus.MetaPartition), 10, 32)
		off, err2 := strconv.ParseInt(m.Metadata.Get(bus.MetaOffset), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("partition/offset metadata: %v", m.Metadata)
		}
		if want := bus.PartitionFor(key, 4); int32(part) != want {
			t.Errorf("key %s landed on partition %d, PartitionFor says %d", key, part, want)
		}
		if prev, ok := lastOffset[int32(part)]; ok && off <= prev {
			t.Errorf("partition %d: offset %d after %d", part, off, prev)
		}
		lastOffset[int32(part)] = off
	}

	// Every ack was committed: the group's offsets reach each partition's end.
	for p, off := range lastOffset {
		bustestEventually(t, 10*time.Second, func() (bool, string) {
			c := committed(t, cfg, cfg.Group("rt-group"), topic, p)
			return c == off+1, fmt.Sprintf("partition %d committed %d, want %d", p, c, off+1)
		})
	}

	// On the wire: key is the record key, id a header, no kafka_* headers.
	for _, r := range readAll(t, cfg, topic) {
		s := sent[r.Headers[bus.HeaderID]]
		if s == nil {
			t.Fatalf("record %d/%d has no known id header: %v", r.Partition, r.Offset, r.Headers)
		}
		if string(r.Key) != s.Metadata.Get(bus.MetaKey) {
			t.Errorf("record key %q", r.Key)
		}
		for _, h := range []string{bus.MetaKey, bus.MetaTopic, bus.MetaPartition, bus.MetaOffset} {
			if _, ok := r.Headers[h]; ok {
				t.Errorf("record has header %q: %v", h, r.Headers)
			}
		}
	}
}

func TestSubscriberWithoutGroupReadsEverythingFromOldest(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "nogroup", Partitions: 3})
	topic := cfg.Topic("nogroup")
	var msgs []*message.Message
	for i := range 9 {
		msgs = append(msgs, keyed(fmt.Sprintf("k%d", i), fmt.Sprint(i)))
	}
	publish(t, cfg, topic, msgs...)

	sub, err := bus.NewSubscriber(cfg, "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch, len(msgs), 30*time.Second); len(got) != len(msgs) {
		t.Fatalf("got %d messages", len(got))
	}
}

func TestNackRedeliversAndCommitsOnlyAfterAck(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "nack", Partitions: 1})
	topic := cfg.Topic("nack")
	publish(t, cfg, topic, keyed("k", "first"), keyed("k", "second"))

	sub, err := bus.NewSubscriber(cfg, "g", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	first := <-ch
	first.Nack()
	again := <-ch
	if again.UUID != first.UUID {
		t.Fatalf("after nack got %s, want redelivery of %s", again.UUID, first.UUID)
	}
	if c := committed(t, cfg, cfg.Group("g"), topic, 0); c != -1 {
		t.Fatalf("committed %d before any ack", c)
	}
	again.Ack()
	bustestEventually(t, 10*time.Second, func() (bool, string) {
		c := committed(t, cfg, cfg.Group("g"), topic, 0)
		return c == 1, fmt.Sprintf("committed %d, want 1", c)
	})
	second := <-ch
	if string(second.Payload) != "second" {
		t.Fatalf("got %q", second.Payload)
	}
	second.Ack()
}
