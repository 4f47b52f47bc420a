package bus_test

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
)

func headerMap(hs []sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, h := range hs {
		m[string(h.Key)] = string(h.Value)
	}
	return m
}

func TestMarshalKeyIsRecordKeyNotHeader(t *testing.T) {
	t.Parallel()
	msg := message.NewMessage("id-1", []byte("payload"))
	msg.Metadata.Set(bus.MetaKey, "saga-42")
	msg.Metadata.Set("type", "booking.requested")

	pm, err := bus.Marshaler{}.Marshal("topic", msg)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pm.Key.Encode()
	if string(key) != "saga-42" {
		t.Errorf("key = %q", key)
	}
	h := headerMap(pm.Headers)
	want := map[string]string{"id": "id-1", "type": "booking.requested"}
	if len(h) != len(want) {
		t.Errorf("headers = %v, want %v", h, want)
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("header %s = %q, want %q", k, h[k], v)
		}
	}
}

func TestMarshalWithoutKeyLeavesKeyNil(t *testing.T) {
	t.Parallel()
	pm, err := bus.Marshaler{}.Marshal("topic", message.NewMessage("id", nil))
	if err != nil {
		t.Fatal(err)
	}
	if pm.Key != nil {
		t.Errorf("key = %v, want nil", pm.Key)
	}
}

func TestMarshalRejectsConflictingID(t *testing.T) {
	t.Parallel()
	msg := message.NewMessage("id-1", nil)
	msg.Metadata.Set(bus.HeaderID, "other")
	if _, err := (bus.Marshaler{}).Marshal("topic", msg); err == nil {
		t.Fatal("expected an error for metadata id != UUID")
	}
}

// A consumed message re-published (dead-lettering) keeps where it was
// read as headers; a fresh message writes none of them.
func TestDeadLetterKeepsOrigin(t *testing.T) {
	t.Parallel()
	in := &sarama.ConsumerMessage{
		Topic: "t.saga.commands", Partition: 3, Offset: 17,
		Key:     []byte("saga-1"),
		Value:   []byte("v"),
		Headers: []*sarama.RecordHeader{{Key: []byte("id"), Value: []byte("u-1")}, {Key: []byte("type"), Value: []byte("x")}},
	}
	msg, err := bus.Marshaler{}.Unmarshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID != "u-1" || msg.Metadata.Get(bus.MetaKey) != "saga-1" || msg.Metadata.Get("type") != "x" {
		t.Fatalf("unmarshalled %s %v", msg.UUID, msg.Metadata)
	}
	if _, ok := msg.Metadata[bus.HeaderID]; ok {
		t.Errorf("id leaked into metadata: %v", msg.Metadata)
	}
	want := map[string]string{bus.MetaTopic: "t.saga.commands", bus.MetaPartition: "3", bus.MetaOffset: "17"}
	for k, v := range want {
		if msg.Metadata.Get(k) != v {
			t.Errorf("metadata %s = %q, want %q", k, msg.Metadata.Get(k), v)
		}
	}

	out, err := bus.Marshaler{}.Marshal("t.saga.dlq", msg)
	if err != nil {
		t.Fatal(err)
	}
	h := headerMap(out.Headers)
	for k, v := range want {
		if h[k] != v {
			t.Errorf("dead-letter header %s = %q, want %q", k, h[k], v)
		}
	}
	if h["id"] != "u-1" {
		t.Errorf("dead-letter id = %q", h["id"])
	}

	fresh, _ := bus.Marshaler{}.Marshal("t", message.NewMessage("n", nil))
	for k := range want {
		if _, ok := headerMap(fresh.Headers)[k]; ok {
			t.Errorf("fresh message has header %s", k)
		}
	}
}
