package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

// quietBroker starts a broker of its own with the topics provisioned and
// nothing running on it (the CLI has no namespace flag), and a publisher
// to write the logs by hand. It returns the --brokers value.
func quietBroker(t *testing.T) (string, bus.Config, message.Publisher) {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Skipf("KAFKA_BROKERS=%s is set: this test needs a broker of its own", env)
	}
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// The publisher writes as the payment service would (a test of
	// reconcile plants what a payment service gone wrong writes).
	pub, err := bus.NewPublisher(trusted(cfg, events.ServicePayment), watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return strings.Join(emb.Addrs(), ","), cfg, pub
}

func TestDLQCommands(t *testing.T) {
	brokers, cfg, pub := quietBroker(t)
	saga := func(args ...string) result {
		return cliWithin(t, 30*time.Second, append([]string{"--brokers", brokers}, args...)...)
	}
	if out := saga("dlq", "list").wantOK(t); strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "ID ") {
		t.Errorf("dlq list of no letters:\n%s", out)
	}
	if out := saga("-o", "json", "dlq", "list").wantOK(t); strings.TrimSpace(out) != "[]" {
		t.Errorf("dlq list -o json of no letters: %q", out)
	}

	// A dead letter as the poison middleware writes it.
	msg := message.NewMessage("msg-1", []byte(`{"definition":"book-ticket"}`))
	for k, v := range map[string]string{events.HeaderType: string(events.StartSaga), events.HeaderVersion: "1", events.MetaKey: "saga-1",
		"reason_poisoned": "malformed message: saga.replies carries StartSaga, not StepReply",
		bus.MetaTopic:     events.TopicReplies, bus.MetaPartition: "3", bus.MetaOffset: "17"} {
		msg.Metadata.Set(k, v)
	}
	if err := pub.Publish(events.TopicDLQ, msg); err != nil {
		t.Fatal(err)
	}
	out := saga("dlq", "list").wantOK(t)
	for _, want := range []string{"msg-1", "StartSaga", "saga.replies/3@17", "carries StartSaga, not StepReply"} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq list does not mention %q:\n%s", want, out)
		}
	}
	var letters []map[string]any
	if err := json.Unmarshal([]byte(saga("-o", "json", "dlq", "list").wantOK(t)), &letters); err != nil || len(letters) != 1 {
		t.Fatalf("dlq list -o json: %v %v", letters, err)
	}
	if l := letters[0]; l["id"] != "msg-1" || l["topic"] != "saga.replies" || l["partition"] != 3.0 || l["offset"] != 17.0 ||
		l["key"] != "saga-1" || l["payload"] != `{"definition":"book-ticket"}` || !strings.Contains(l["reason"].(string), "StepReply") {
		t.Errorf("dlq list -o json: %v", l)
	}

	saga("dlq", "redrive", "nope").wantFailure(t, exitError, `no dead letter "nope"`)
	saga("dlq", "redrive").wantFailure(t, exitUsage, "accepts 1 arg(s), received 0")
	saga("dlq", "list", "extra").wantFailure(t, exitUsage, `"extra"`)
	if out := saga("dlq", "redrive", "msg-1").wantOK(t); !strings.HasPrefix(out, "redriven msg-1 from saga.dlq/") || !strings.Contains(out, " to saga.replies/") {
		t.Errorf("dlq redrive: %q", out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(saga("-o", "json", "dlq", "redrive", "msg-1").wantOK(t)), &r); err != nil || r["topic"] != "saga.replies" || r["key"] != "saga-1" {
		t.Errorf("dlq redrive -o json: %v %v", r, err)
	}
	n := 0
	if err := bus.ReadAll(context.Background(), cfg, events.TopicReplies, func(rec bus.Record) error {
		if rec.Headers["id"] == "msg-1" && string(rec.Key) == "saga-1" {
			n++
		}
		return nil
	}); err != nil || n != 2 {
		t.Errorf("%s holds %d copies of msg-1 after two redrives, want 2 (%v)", events.TopicReplies, n, err)
	}
}
