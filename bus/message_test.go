package bus_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

var msgT0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func fullEnvelope() events.Envelope {
	return events.Envelope{ID: "id-1", Type: events.StepReply, Version: 1, SagaID: "saga-1", CorrelationID: "BK-ABCDEFGH",
		CausationID: "cause-1", Actor: "alice", OccurredAt: msgT0, Key: "key-1", Payload: json.RawMessage(`{"command_id":"c","outcome":"failed"}`)}
}

// The id travels as the message UUID, every other header as metadata, and
// the payload untouched.
func TestToMessage(t *testing.T) {
	e := fullEnvelope()
	msg := bus.ToMessage(e)
	if msg.UUID != e.ID {
		t.Fatalf("message UUID = %q, want %q", msg.UUID, e.ID)
	}
	want := map[string]string{
		events.HeaderType:          string(events.StepReply),
		events.HeaderVersion:       "1",
		events.HeaderOccurredAt:    "2025-03-14T15:09:26.535897932Z",
		events.HeaderSagaID:        "saga-1",
		events.HeaderCorrelationID: "BK-ABCDEFGH",
		events.HeaderCausationID:   "cause-1",
		events.HeaderActor:         "alice",
		events.MetaKey:             "key-1",
	}
	if !reflect.DeepEqual(map[string]string(msg.Metadata), want) {
		t.Fatalf("metadata = %v, want %v", msg.Metadata, want)
	}
	if string(msg.Payload) != string(e.Payload) {
		t.Fatalf("payload = %s, want %s", msg.Payload, e.Payload)
	}
	got, err := bus.FromMessage(msg)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("FromMessage(ToMessage) = %#v, %v; want %#v", got, err, e)
	}
}

// A watermill message without a UUID falls back to the "id" metadata.
func TestFromMessageIDFallback(t *testing.T) {
	msg := bus.ToMessage(events.Envelope{Type: events.StepReply, Version: 1, OccurredAt: msgT0})
	msg.Metadata.Set(events.HeaderID, "meta-id")
	if e, err := bus.FromMessage(msg); err != nil || e.ID != "meta-id" {
		t.Errorf("FromMessage(no UUID, id metadata) = %q, %v; want meta-id", e.ID, err)
	}
}

func BenchmarkToMessage(b *testing.B) {
	e := fullEnvelope()
	b.ReportAllocs()
	for b.Loop() {
		if msg := bus.ToMessage(e); msg == nil {
			b.Fatal("nil message")
		}
	}
}
