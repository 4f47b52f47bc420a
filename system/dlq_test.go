package system_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
)

// poison is a message that can never be processed, where it is sent, and
// what its dead letter's reason must say.
type poison struct {
	topic, key string
	msg        *message.Message
	reason     string
}

// rawMessage builds a message with the given headers, as a client in any
// language could write it.
func rawMessage(id, key, payload string, headers ...string) *message.Message {
	msg := message.NewMessage(id, []byte(payload))
	for i := 0; i+1 < len(headers); i += 2 {
		msg.Metadata.Set(headers[i], headers[i+1])
	}
	msg.Metadata.Set(events.MetaKey, key)
	return msg
}

// place is where a record was written.
type place struct {
	partition int32
	offset    int64
}

// placesOf reads topic and returns where each message id was written.
func placesOf(t *testing.T, cfg bus.Config, topic string) map[string][]place {
	t.Helper()
	out := map[string][]place{}
	err := bus.ReadAll(context.Background(), cfg, cfg.Topic(topic), func(r bus.Record) error {
		out[r.Headers[bus.HeaderID]] = append(out[r.Headers[bus.HeaderID]], place{r.Partition, r.Offset})
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	return out
}

// lettersByID waits until the dead-letter topic holds want letters for
// every id of ids, and returns the letters by id.
func lettersByID(t *testing.T, h *harness, want int, ids ...string) map[string][]client.DeadLetter {
	t.Helper()
	var got map[string][]client.DeadLetter
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		letters, err := h.c.DeadLetters(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got = map[string][]client.DeadLetter{}
		for _, d := range letters {
			got[d.ID] = append(got[d.ID], d)
		}
		for _, id := range ids {
			if len(got[id]) < want {
				return false, fmt.Sprintf("%d letters for %s, want %d (all: %d)", len(got[id]), id, want, len(letters))
			}
		}
		return true, ""
	})
	return got
}

// TestDeadLettersCarryTheirOriginAndRedrive posts a message of every kind
// that can never be processed: each becomes a dead letter that says why
// and where it was read, the consumers carry on, and a redrive sends one
// back where it came from.
func TestDeadLettersCarryTheirOriginAndRedrive(t *testing.T) {
	h := newHarness(t)
	h.run()

	// A valid booking request sent to the replies topic: nothing is wrong
	// with it but where it went.
	sagaID := events.SagaIDFor("dlq-wrong-topic")
	ref := events.BookingRefFor(sagaID)
	start, err := events.New("dlq-wrong-topic", events.StartSaga, events.StartSagaV1{Definition: "book-ticket",
		IdempotencyKey: "dlq-wrong-topic", BookingRef: ref,
		Data: []byte(`{"user_id":"alice","show_id":"show-1","seats":1,"payment_token":"tok_ok"}`)},
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: "alice"}, sagaID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	command := `{"step":"ReserveSeats","attempt":1,"data":{"booking_ref":"BK-X","user_id":"alice","show_id":"show-1","seats":1}}`
	bad := map[string]poison{
		"dlq-json": {events.TopicRequests, "k-json", rawMessage("dlq-json", "k-json", "{not json",
			events.HeaderType, string(events.StartSaga), events.HeaderVersion, "1", events.HeaderSagaID, "s-json"), "not valid JSON"},
		"dlq-type": {events.TopicReplies, "k-type", rawMessage("dlq-type", "k-type", `{}`,
			events.HeaderType, "NoSuchType", events.HeaderVersion, "1", events.HeaderSagaID, "s-type"), `unknown type "NoSuchType"`},
		"dlq-version": {events.CommandTopic(events.ServiceBooking), "show-1", rawMessage("dlq-version", "show-1", command,
			events.HeaderType, string(events.ReserveSeats), events.HeaderVersion, "99", events.HeaderSagaID, "s-version"), "version 99 is newer"},
		"dlq-saga-id": {events.CommandTopic(events.ServicePayment), "BK-X", rawMessage("dlq-saga-id", "BK-X", command,
			events.HeaderType, string(events.ChargePayment), events.HeaderVersion, "1"), "without saga_id"},
		"dlq-wrong-topic": {events.TopicReplies, sagaID, bus.ToMessage(start), "carries StartSaga, not StepReply"},
		"dlq-big": {events.TopicRequests, "k-big", rawMessage("dlq-big", "k-big", `{"definition":"book-ticket","pad":"`+strings.Repeat("x", 600<<10)+`"}`,
			events.HeaderType, string(events.StartSaga), events.HeaderVersion, "1", events.HeaderSagaID, "s-big"), "over the limit"},
	}
	var ids []string
	for id, b := range bad {
		h.publish(b.topic, b.msg)
		ids = append(ids, id)
	}
	// The consumers carry on: a booking posted after the poison completes.
	if v := h.wait(h.book("alice", "show-1", 1, "tok_ok")); v.Status != "completed" {
		t.Fatalf("booking after the poison: %s (%s)", v.Status, v.Reason)
	}

	letters := lettersByID(t, h, 1, ids...)
	for id, b := range bad {
		where := placesOf(t, h.cfg, b.topic)[id]
		if len(where) != 1 {
			t.Fatalf("%s: written %d times to %s", id, len(where), b.topic)
		}
		d := letters[id][0]
		if len(letters[id]) != 1 {
			t.Errorf("%s: %d letters, want 1", id, len(letters[id]))
		}
		if !strings.Contains(d.Reason, b.reason) {
			t.Errorf("%s: reason %q, want it to mention %q", id, d.Reason, b.reason)
		}
		if d.Topic != b.topic || d.Partition != where[0].partition || d.Offset != where[0].offset || d.Key != b.key {
			t.Errorf("%s: letter says it came from %s/%d@%d key %q, it was written to %s/%d@%d key %q",
				id, d.Topic, d.Partition, d.Offset, d.Key, b.topic, where[0].partition, where[0].offset, b.key)
		}
		// Listed with the payment token redacted (the redrive below sends
		// the record itself).
		if string(d.Payload) != string(events.Redact(b.msg.Payload)) || d.Type != b.msg.Metadata.Get(events.HeaderType) || d.DeadAt.IsZero() {
			t.Errorf("%s: letter %+v does not hold the message", id, d)
		}
	}

	// Redrive: the message goes back to its topic with its key, id and
	// payload, where the orchestrator refuses it again: a second letter.
	if _, err := h.c.Redrive(context.Background(), "no-such-letter"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("redrive of an unknown id: %v, want ErrNotFound", err)
	}
	first := letters["dlq-wrong-topic"][0]
	r, err := h.c.Redrive(context.Background(), "dlq-wrong-topic")
	if err != nil {
		t.Fatal(err)
	}
	if r.Topic != events.TopicReplies || r.Key != sagaID || r.FromDLQOffset != first.DLQOffset || r.FromDLQPartition != first.DLQPartition {
		t.Fatalf("redrive = %+v, want it back on %s with key %s from letter %d@%d", r, events.TopicReplies, sagaID, first.DLQPartition, first.DLQOffset)
	}
	var back *bus.Record
	err = bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(events.TopicReplies), func(rec bus.Record) error {
		if rec.Partition == r.Partition && rec.Offset == r.Offset {
			back = &rec
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if back == nil {
		t.Fatalf("no record at %s/%d@%d", events.TopicReplies, r.Partition, r.Offset)
	}
	if string(back.Key) != sagaID || back.Headers[bus.HeaderID] != "dlq-wrong-topic" || string(back.Value) != string(start.Payload) ||
		events.Type(back.Headers[events.HeaderType]) != events.StartSaga || back.Headers[client.HeaderReason] != "" || back.Headers[bus.MetaOffset] != "" {
		t.Errorf("redriven record: key %q headers %v payload %s", back.Key, back.Headers, back.Value)
	}
	again := lettersByID(t, h, 2, "dlq-wrong-topic")["dlq-wrong-topic"]
	second := again[len(again)-1]
	if second.Offset != r.Offset || second.Partition != r.Partition ||
		second.RedrivenFrom != fmt.Sprintf("%d:%d", first.DLQPartition, first.DLQOffset) || !strings.Contains(second.Reason, "carries StartSaga") {
		t.Errorf("second letter %+v, want it read at %d@%d and redriven from %d:%d", second, r.Partition, r.Offset, first.DLQPartition, first.DLQOffset)
	}
	// The first letter is still listed: Kafka deletes nothing.
	if again[0].DLQOffset != first.DLQOffset || again[0].DLQPartition != first.DLQPartition {
		t.Errorf("letters of dlq-wrong-topic %+v, want the first one kept", again)
	}
}
