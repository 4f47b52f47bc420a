package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// newTestClient provisions the topics on a fresh namespace; no part of
// the system runs, so the tests write the logs themselves.
func newTestClient(t *testing.T) (bus.Config, *client.Client, message.Publisher) {
	t.Helper()
	cfg := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// The committed fixture's records were placed by FNV-1a, the
	// partitioner of the builds that wrote it.
	fixtureCfg := cfg
	fixtureCfg.Partitioner = bus.FNV1a
	pub, err := bus.NewPublisher(fixtureCfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return cfg, c, pub
}

// letter writes a dead letter as the poison middleware does: the consumed
// message with its origin and the reason in its metadata.
func letter(t *testing.T, cfg bus.Config, pub message.Publisher, id, key, payload string, md map[string]string) {
	t.Helper()
	msg := message.NewMessage(id, []byte(payload))
	for k, v := range md {
		msg.Metadata.Set(k, v)
	}
	if key != "" {
		msg.Metadata.Set(bus.MetaKey, key)
	}
	if err := pub.Publish(cfg.Topic(events.TopicDLQ), msg); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLettersAndRedrive(t *testing.T) {
	cfg, c, pub := newTestClient(t)
	ctx := context.Background()
	origin := map[string]string{
		events.HeaderType: string(events.StartSaga), events.HeaderVersion: "1", events.HeaderSagaID: "saga-1",
		events.HeaderCorrelationID: "BK-1", "custom": "kept",
		client.HeaderReason:   "malformed message: saga.replies carries StartSaga, not StepReply",
		"topic_poisoned":      "",
		"handler_poisoned":    "",
		"subscriber_poisoned": "",
		bus.MetaTopic:         cfg.Topic(events.TopicReplies), bus.MetaPartition: "3", bus.MetaOffset: "17",
	}
	letter(t, cfg, pub, "msg-1", "saga-1", `{"definition":"book-ticket"}`, origin)
	// A message without an id, not even JSON.
	letter(t, cfg, pub, "", "", "{not json", map[string]string{client.HeaderReason: "malformed message: missing header \"id\"",
		bus.MetaTopic: cfg.Topic(events.TopicRequests), bus.MetaPartition: "0", bus.MetaOffset: "4"})

	letters, err := c.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 2 {
		t.Fatalf("%d letters, want 2: %+v", len(letters), letters)
	}
	d := letters[0]
	if d.ID != "msg-1" || d.Type != string(events.StartSaga) || d.Topic != events.TopicReplies || d.Partition != 3 || d.Offset != 17 ||
		d.Key != "saga-1" || string(d.Payload) != `{"definition":"book-ticket"}` || d.Reason != origin[client.HeaderReason] ||
		d.DeadAt.IsZero() || d.RedrivenFrom != "" {
		t.Errorf("letter = %+v", d)
	}
	anon := letters[1]
	if anon.ID == "" || anon.Topic != events.TopicRequests || anon.Key != "" || string(anon.Payload) != "{not json" {
		t.Errorf("letter without id = %+v", anon)
	}
	raw, err := json.Marshal(anon)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(raw, &back); err != nil || back["payload"] != "{not json" || back["topic"] != events.TopicRequests {
		t.Errorf("JSON of a letter: %s (%v)", raw, err)
	}

	if _, err := c.Redrive(ctx, "no-such-id"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("redrive of an unknown id: %v, want ErrNotFound", err)
	}
	got, err := c.Redrive(ctx, "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "msg-1" || got.Topic != events.TopicReplies || got.Key != "saga-1" || got.FromDLQOffset != d.DLQOffset {
		t.Errorf("Redrive = %+v", got)
	}
	var recs []bus.Record
	if err := bus.ReadAll(ctx, cfg, cfg.Topic(events.TopicReplies), func(r bus.Record) error {
		recs = append(recs, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%s holds %d records, want the redriven one", events.TopicReplies, len(recs))
	}
	r := recs[0]
	if string(r.Key) != "saga-1" || string(r.Value) != `{"definition":"book-ticket"}` || r.Partition != got.Partition || r.Offset != got.Offset {
		t.Errorf("redriven record %+v, want key, payload and place of %+v", r, got)
	}
	want := map[string]string{"id": "msg-1", events.HeaderType: string(events.StartSaga), events.HeaderVersion: "1",
		events.HeaderSagaID: "saga-1", events.HeaderCorrelationID: "BK-1", "custom": "kept",
		client.HeaderRedrivenFromPartition: itoa(int64(d.DLQPartition)), client.HeaderRedrivenFromOffset: itoa(d.DLQOffset)}
	if len(r.Headers) != len(want) {
		t.Errorf("redriven headers %v, want %v", r.Headers, want)
	}
	for k, v := range want {
		if r.Headers[k] != v {
			t.Errorf("redriven header %s = %q, want %q (all: %v)", k, r.Headers[k], v, r.Headers)
		}
	}
	// The letter without an id is redriven by the name the list gave it.
	if got, err := c.Redrive(ctx, anon.ID); err != nil || got.Topic != events.TopicRequests {
		t.Fatalf("redrive of a letter without id: %+v, %v", got, err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// countingReadModel is the read model, counting the listings it answers.
type countingReadModel struct {
	*readmodel.DB
	listings int
}

func (c *countingReadModel) DeadLetters(ctx context.Context, ns string, after *readmodel.LetterCursor, limit int) ([]readmodel.DeadLetter, *readmodel.LetterCursor, error) {
	c.listings++
	return c.DB.DeadLetters(ctx, ns, after, limit)
}

// With a read model that has applied the whole dead-letter topic, the
// letters are listed and looked up there, secrets redacted; a redrive
// still sends the record as the topic holds it. A read model behind the
// topic is passed over for the topic itself.
func TestDeadLettersFromTheReadModel(t *testing.T) {
	cfg, c, pub := newTestClient(t)
	ctx := context.Background()
	secret := `{"definition":"book-ticket","data":{"payment_token":"tok_secret_1","user_id":"alice"}}`
	for i := range 3 {
		letter(t, cfg, pub, fmt.Sprintf("msg-%d", i), "saga-1", secret, map[string]string{client.HeaderReason: "malformed message",
			bus.MetaTopic: cfg.Topic(events.TopicRequests), bus.MetaPartition: "0", bus.MetaOffset: fmt.Sprint(i)})
	}
	db, err := readmodel.Open(ctx, filepath.Join(t.TempDir(), readmodel.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := readmodel.CatchUp(ctx, cfg, db, readmodel.ProjectionDLQ); err != nil {
		t.Fatal(err)
	}
	rm := &countingReadModel{DB: db}
	c.UseReadModel(rm)

	letters, err := c.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rm.listings != 1 || len(letters) != 3 {
		t.Fatalf("%d letters in %d listings of the read model, want 3 in 1", len(letters), rm.listings)
	}
	for _, d := range letters {
		if strings.Contains(string(d.Payload), "tok_secret_1") || !strings.Contains(string(d.Payload), events.Redacted) ||
			d.Topic != events.TopicRequests || d.Reason != "malformed message" {
			t.Errorf("letter from the read model: %+v (payload %s)", d, d.Payload)
		}
	}
	got, err := c.Redrive(ctx, "msg-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.FromDLQOffset != letters[1].DLQOffset || got.FromDLQPartition != letters[1].DLQPartition {
		t.Errorf("redrive of msg-1 = %+v, want the letter at %d:%d", got, letters[1].DLQPartition, letters[1].DLQOffset)
	}
	var sent string
	if err := bus.ReadAll(ctx, cfg, cfg.Topic(events.TopicRequests), func(r bus.Record) error {
		sent = string(r.Value)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if sent != secret {
		t.Errorf("redriven payload %s, want the letter's own %s", sent, secret)
	}
	if _, err := c.Redrive(ctx, "no-such-id"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("redrive of an unknown id: %v", err)
	}

	// A letter the read model has not applied: the topic answers.
	letter(t, cfg, pub, "msg-late", "", "{}", map[string]string{client.HeaderReason: "late", bus.MetaTopic: cfg.Topic(events.TopicReplies)})
	rm.listings = 0
	letters, err = c.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rm.listings != 0 || len(letters) != 4 || letters[3].ID != "msg-late" {
		t.Fatalf("behind the topic: %d listings of the read model, letters %+v", rm.listings, letters)
	}
	for _, d := range letters {
		if strings.Contains(string(d.Payload), "tok_secret_1") {
			t.Errorf("letter read from the topic keeps its token: %s", d.Payload)
		}
	}
	if got, err := c.Redrive(ctx, "msg-late"); err != nil || got.ID != "msg-late" {
		t.Errorf("redrive of a letter the read model lacks: %+v, %v", got, err)
	}
}
