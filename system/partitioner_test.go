package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/system"
)

// runWith starts the named parts with c's bus, log and timings filled in.
func (h *harness) runWith(c system.Config) (stop func()) {
	h.t.Helper()
	if c.Bus.Brokers == nil {
		c.Bus = h.cfg
	}
	if c.Keys == nil {
		c.Keys = h.keys
	}
	c.Log = zerolog.New(zerolog.NewTestWriter(h.t)).Level(testLogLevel).With().Timestamp().Logger()
	if c.Timings == (flows.Timings{}) {
		c.Timings = testTimings
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- system.Run(ctx, c) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("system stopped with: %v", err)
		}
	}
	h.t.Cleanup(stop)
	return stop
}

// Bookings posted by producers that place records by each common
// partitioner, keyed by saga id as the wire format says, all complete with
// two copies of every part sharing the partitions: a request that arrives
// on another partition than its saga's is forwarded, not half-handled.
func TestBookingsFromAnyPartitionerComplete(t *testing.T) {
	h := newHarness(t)
	h.run()
	h.run()
	producers := []struct {
		name string
		mk   sarama.PartitionerConstructor
	}{
		{"murmur2 (Java client)", sarama.NewMurmur2Partitioner},
		{"crc32 (librdkafka consistent_random)", sarama.NewConsistentCRCHashPartitioner},
		{"fnv1a (sarama)", sarama.NewHashPartitioner},
		{"random", sarama.NewRandomPartitioner},
	}
	var recs []client.Receipt
	for i, p := range producers {
		conf, err := bus.SaramaConfig(h.cfg)
		if err != nil {
			t.Fatal(err)
		}
		conf.Producer.Partitioner = p.mk
		prod, err := sarama.NewSyncProducer(h.cfg.Brokers, conf)
		if err != nil {
			t.Fatal(err)
		}
		moved := 0
		for j := range 6 {
			e, err := client.BookingRequest(client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok",
				IdempotencyKey: fmt.Sprintf("partitioner-%d-%d", i, j)}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			pm, err := bus.MarshalerFor(h.cfg).Marshal(h.cfg.Topic(events.TopicRequests), bus.ToMessage(e))
			if err != nil {
				t.Fatal(err)
			}
			part, _, err := prod.SendMessage(pm)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			if part != bus.PartitionFor(e.SagaID, bus.DefaultPartitions) {
				moved++
			}
			recs = append(recs, client.Receipt{SagaID: e.SagaID, BookingRef: e.CorrelationID})
		}
		_ = prod.Close()
		t.Logf("%s: %d of 6 requests on another partition than their saga's", p.name, moved)
	}
	for _, r := range recs {
		if v := h.wait(r); v.Status != "completed" {
			t.Errorf("saga %s ended %s: %s", r.SagaID, v.Status, v.Reason)
		}
	}
	if s := h.seats("show-1"); s.Held != len(recs) {
		t.Errorf("show-1 holds %d seats for %d one-seat bookings", s.Held, len(recs))
	}
}

// splitPublisher sends commands and replies through another publisher,
// as participants or an orchestrator with another partitioner would.
type splitPublisher struct {
	message.Publisher
	// other are FNV-1a publishers, by the principal they sign as.
	other map[string]message.Publisher
	cfg   bus.Config
}

// serviceOf is the service that answered the command a reply names.
func serviceOf(reply *message.Message) string {
	var p events.StepReplyV1
	_ = json.Unmarshal(reply.Payload, &p)
	for _, d := range flows.All() {
		for _, st := range d.Steps {
			if st.Command == p.Command || st.Compensation == p.Command {
				return st.Service
			}
		}
	}
	return ""
}

// Copies forwarded to their partition go the usual way.
func (p splitPublisher) Publish(topic string, msgs ...*message.Message) error {
	if topic != p.cfg.Topic(events.TopicReplies) && !strings.HasSuffix(topic, ".commands") {
		return p.Publisher.Publish(topic, msgs...)
	}
	for _, m := range msgs {
		pub := p.other[events.PrincipalOrchestrator]
		if topic == p.cfg.Topic(events.TopicReplies) {
			pub = p.other[serviceOf(m)]
		}
		if m.Metadata.Get(bus.MetaReroutedFromPartition) != "" {
			pub = p.Publisher
		}
		if err := pub.Publish(topic, m); err != nil {
			return err
		}
	}
	return nil
}

// Commands and replies placed by FNV-1a while the deployment uses murmur2
// are forwarded to their key's partition: every booking completes, and
// the seats of one show are counted in one place.
func TestCommandsAndRepliesFromAnotherPartitioner(t *testing.T) {
	h := newHarness(t)
	other := map[string]message.Publisher{}
	for _, p := range append(events.Services(), events.PrincipalOrchestrator) {
		fnvCfg := h.cfg
		fnvCfg.Partitioner, fnvCfg.Signer = bus.FNV1a, h.keys[p]
		pub, err := bus.NewPublisher(fnvCfg, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = pub.Close() })
		other[p] = pub
	}
	decorate := func(p message.Publisher) (message.Publisher, error) {
		return splitPublisher{Publisher: p, other: other, cfg: h.cfg}, nil
	}
	h.runWith(system.Config{Decorate: decorate})
	h.runWith(system.Config{Decorate: decorate})
	var recs []client.Receipt
	for i := range 8 {
		recs = append(recs, h.book([]string{"alice", "bob"}[i%2], "show-small", 1, "tok_ok"))
	}
	completed := 0
	for _, r := range recs {
		switch v := h.wait(r); {
		case v.Status == "completed":
			completed++
		case v.Status != "compensated" || !strings.Contains(v.Reason, "sold out"):
			t.Errorf("saga %s ended %s: %s", r.SagaID, v.Status, v.Reason)
		}
	}
	if completed != 2 {
		t.Errorf("%d one-seat bookings of a two-seat show completed, want 2", completed)
	}
}

// A deployment whose logs were written with FNV-1a keeps it: a saga
// started before the upgrade, and waiting for a service that was not
// running, completes after it.
func TestUpgradeKeepsTheLogsPartitioner(t *testing.T) {
	h := newHarness(t)
	old := h.cfg
	old.Partitioner = bus.FNV1a
	stopOld := h.runWith(system.Config{Bus: old, Parts: []string{"orchestrator", "user"}})
	// A saga whose partition the two rules disagree on (for three ids in
	// four they do); where they agree, either rule finds it.
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("before-upgrade-%d", i)
		id := events.SagaIDFor(k)
		if bus.FNV1a.Partition(id, bus.DefaultPartitions) != bus.Murmur2.Partition(id, bus.DefaultPartitions) {
			key = k
		}
	}
	rec, err := h.c.Book(context.Background(), client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 2, PaymentToken: "tok_ok", IdempotencyKey: key})
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		v, err := h.c.Inspect(context.Background(), rec.SagaID)
		if err != nil {
			return false, err.Error()
		}
		return stepStatuses(v)["ReserveSeats"] == "running", fmt.Sprint(stepStatuses(v))
	})
	stopOld()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rule, err := system.Partitioner(ctx, h.cfg)
	if err != nil || rule != bus.FNV1a {
		t.Fatalf("partitioner of logs written by FNV-1a = %q, %v", rule, err)
	}
	h.run()
	if v := h.wait(rec); v.Status != "completed" {
		t.Fatalf("saga started before the upgrade ended %s: %s", v.Status, v.Reason)
	}
	if v := h.wait(h.book("bob", "show-1", 1, "tok_ok")); v.Status != "completed" {
		t.Fatalf("saga started after the upgrade ended %s: %s", v.Status, v.Reason)
	}
	if s := h.seats("show-1"); s.Held != 3 {
		t.Errorf("show-1 holds %d seats, want 3", s.Held)
	}
}

func TestNewLogsAreMurmur2(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rule, err := system.Partitioner(ctx, h.cfg); err != nil || rule != bus.Murmur2 {
		t.Fatalf("partitioner of empty logs = %q, %v", rule, err)
	}
	h.run()
	h.wait(h.book("alice", "show-1", 1, "tok_ok"))
	if rule, err := system.Partitioner(ctx, h.cfg); err != nil || rule != bus.Murmur2 {
		t.Fatalf("partitioner of new logs = %q, %v", rule, err)
	}
}
