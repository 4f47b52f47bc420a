package orchestrator

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// A recovery from snapshots and the events after them gives the sagas a
// fold of the whole log gives, and those Decide left; snapshots larger
// than a chunk are written and read back as several records.
func TestRecoveryFromSnapshotsEqualsFullFold(t *testing.T) {
	e := newEnv(t, 2)
	g := newLogGen(1)
	g.run(60, 900)
	e.append(g, 0)

	first := e.orchestrator(func(c *Config) { c.SnapshotEvents, c.SnapshotChunkBytes = 20, 1024 })
	e.recover(first)
	for p := range e.parts {
		line := first.logs.line(t, "snapshot written", fmt.Sprintf(`"partition":%d`, p))
		var w struct{ Chunks, Covers int }
		if err := json.Unmarshal([]byte(line), &w); err != nil || w.Chunks < 2 || w.Covers == 0 {
			t.Fatalf("partition %d: want a snapshot of several chunks: %s", p, line)
		}
	}

	// More events after the snapshots: of sagas in them and of new ones.
	seen := len(g.log)
	g.run(90, 500)
	e.append(g, seen)

	fromSnap := e.orchestrator(nil)
	e.recover(fromSnap)
	full := e.orchestrator(func(c *Config) { c.NoSnapshots = true })
	e.recover(full)
	for p := range e.parts {
		fromSnap.logs.line(t, "recovered partition from its snapshot", fmt.Sprintf(`"partition":%d`, p))
		full.logs.line(t, "recovered partition by folding it from the start", fmt.Sprintf(`"partition":%d`, p))
	}
	sameSagas(t, fromSnap, full)
	if running := allRunning(full); !reflect.DeepEqual(running, g.running()) {
		t.Fatalf("recovered %d running sagas, Decide left %d", len(running), len(g.running()))
	}
}

// A snapshot whose last chunk was never written is passed over for the one
// before it; a record that is no snapshot chunk, or only a torn snapshot,
// leaves a fold from the start.
func TestTornSnapshotsArePassedOver(t *testing.T) {
	e := newEnv(t, 2)
	g := newLogGen(2)
	g.run(40, 600)
	e.append(g, 0)
	first := e.orchestrator(func(c *Config) { c.SnapshotEvents, c.SnapshotChunkBytes = 10, 700 })
	e.recover(first)
	first.logs.line(t, "snapshot written", `"partition":0`)
	first.logs.line(t, "snapshot written", `"partition":1`)

	// Partition 0: a newer snapshot torn after two of its chunks.
	e.writeTorn(first, 0, 2)
	// Partition 1: a record that is not a chunk at the end.
	e.writeRaw(first, 1, bus.OutRecord{Value: []byte("not a snapshot")})

	seen := len(g.log)
	g.run(60, 300)
	e.append(g, seen)

	second := e.orchestrator(nil)
	e.recover(second)
	line := second.logs.line(t, "recovered partition from its snapshot", `"partition":0`)
	if !strings.Contains(line, "torn") {
		t.Errorf("partition 0 does not say it passed over a torn snapshot: %s", line)
	}
	line = second.logs.line(t, "recovered partition by folding it from the start", `"partition":1`)
	if !strings.Contains(line, "not a snapshot chunk") {
		t.Errorf("partition 1 does not say why it folded from the start: %s", line)
	}
	full := e.orchestrator(func(c *Config) { c.NoSnapshots = true })
	e.recover(full)
	sameSagas(t, second, full)
}

// With nothing but a torn snapshot, recovery folds the whole partition.
func TestOnlyATornSnapshotFoldsFromTheStart(t *testing.T) {
	e := newEnv(t, 1)
	g := newLogGen(3)
	g.run(20, 300)
	e.append(g, 0)
	o := e.orchestrator(func(c *Config) { c.SnapshotChunkBytes = 500 })
	e.writeTorn(o, 0, 1)
	e.recover(o)
	line := o.logs.line(t, "recovered partition by folding it from the start", `"partition":0`)
	if !strings.Contains(line, "torn") {
		t.Errorf("does not say the snapshot is torn: %s", line)
	}
	full := e.orchestrator(func(c *Config) { c.NoSnapshots = true })
	e.recover(full)
	sameSagas(t, o, full)
}

// A snapshot that does not fit the log (its last event is not where it
// says, or it was taken with another partition count) is not used.
func TestSnapshotsOfAnotherLogAreRefused(t *testing.T) {
	e := newEnv(t, 2)
	g := newLogGen(4)
	g.run(30, 400)
	e.append(g, 0)
	o := e.orchestrator(nil)
	e.recover(o)
	wrongID := o.store.shards[0].capture(0, 2, time.Now())
	wrongID.Covers, wrongID.LastID = 5, "not-the-event-at-4"
	wrongCount := o.store.shards[1].capture(1, 3, time.Now())
	wrongCount.Covers, wrongCount.LastID = 1, "whatever"
	for _, s := range []*snapshot{wrongID, wrongCount} {
		if _, _, err := o.writeSnapshot(s); err != nil {
			t.Fatal(err)
		}
	}
	again := e.orchestrator(nil)
	e.recover(again)
	if line := again.logs.line(t, "recovered partition by folding it from the start", `"partition":0`); !strings.Contains(line, "does not hold the snapshot's last event") {
		t.Errorf("partition 0: %s", line)
	}
	if line := again.logs.line(t, "recovered partition by folding it from the start", `"partition":1`); !strings.Contains(line, "3 partitions") {
		t.Errorf("partition 1: %s", line)
	}
	sameSagas(t, again, o)
}

// A running orchestrator snapshots its partitions from the tick loop while
// requests keep coming; a restart recovers from those snapshots the sagas
// a full fold finds.
func TestRunningOrchestratorSnapshots(t *testing.T) {
	e := newEnv(t, 2)
	o := e.unopened(func(c *Config) { c.SnapshotEvents, c.Tick = 16, 20*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			e.request(fmt.Sprintf("run-%d", i))
		}
	})
	bustest.Eventually(t, 60*time.Second, func() (bool, string) {
		return o.logs.count("snapshot written") >= 4, "no snapshots written:\n" + o.logs.String()
	})
	close(stop)
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	again := e.orchestrator(nil)
	e.recover(again)
	for p := range e.parts {
		again.logs.line(t, "recovered partition from its snapshot", fmt.Sprintf(`"partition":%d`, p))
	}
	full := e.orchestrator(func(c *Config) { c.NoSnapshots = true })
	e.recover(full)
	sameSagas(t, again, full)
	if n := len(allRunning(full)); n == 0 {
		t.Fatal("no saga was started")
	}
}

// env is a broker with the orchestrator's topics in a namespace of its own.
type env struct {
	t     *testing.T
	cfg   bus.Config
	parts int32
	pub   *bus.BatchPublisher
}

func newEnv(t *testing.T, parts int32) *env {
	t.Helper()
	cfg := bustest.Start(t)
	cfg.Partitions = parts
	specs := []bus.TopicSpec{{Name: events.TopicSagaLog}, {Name: events.TopicSagaSnapshots}, {Name: events.TopicRequests},
		{Name: events.TopicReplies}, {Name: events.TopicDLQ}, {Name: events.TopicDefinitions, Partitions: 1}}
	for _, s := range events.Services() {
		specs = append(specs, bus.TopicSpec{Name: events.CommandTopic(s)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := bus.Provision(ctx, cfg, specs); err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return &env{t: t, cfg: cfg, parts: parts, pub: pub}
}

// append writes the generator's log from index from on to the saga log,
// with its unreadable records.
func (e *env) append(g *logGen, from int) {
	e.t.Helper()
	var msgs []*message.Message
	for i := from; i < len(g.log); i++ {
		if g.junk[i] {
			junk := message.NewMessage(fmt.Sprintf("junk-%d", i), []byte("{"))
			junk.Metadata.Set(bus.MetaKey, g.log[i].SagaID)
			msgs = append(msgs, junk)
		}
		msgs = append(msgs, bus.ToMessage(g.log[i]))
	}
	if err := e.pub.Publish(e.cfg.Topic(events.TopicSagaLog), msgs...); err != nil {
		e.t.Fatal(err)
	}
}

// request posts a book-ticket request.
func (e *env) request(key string) {
	id := events.SagaIDFor(key)
	ref := events.BookingRefFor(id)
	data, _ := json.Marshal(events.BookingData{BookingRef: ref, UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_visa"})
	p := events.StartSagaV1{Definition: flows.BookTicket, IdempotencyKey: key, BookingRef: ref, Data: data}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p, events.Trace{SagaID: id, CorrelationID: ref, Actor: "alice"}, id, time.Now())
	if err := e.pub.Publish(e.cfg.Topic(events.TopicRequests), bus.ToMessage(req)); err != nil {
		e.t.Error(err)
	}
}

type testOrch struct {
	*Orchestrator
	logs *logBuffer
}

// orchestrator returns an orchestrator connected to the env's broker,
// logging into a buffer; mod changes its configuration.
func (e *env) orchestrator(mod func(*Config)) testOrch {
	e.t.Helper()
	o := e.unopened(mod)
	o.pub = e.pub
	if err := o.open(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(o.close)
	return o
}

// unopened is an orchestrator for Run, which connects it.
func (e *env) unopened(mod func(*Config)) testOrch {
	e.t.Helper()
	logs := &logBuffer{}
	cfg := Config{Bus: e.cfg, Log: zerolog.New(logs), Definitions: genMachineDefs()}
	if mod != nil {
		mod(&cfg)
	}
	o, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return testOrch{o, logs}
}

// recover gives o every partition, as the consumer group does, and waits
// for the snapshots it writes.
func (e *env) recover(o testOrch) {
	e.t.Helper()
	var all []int32
	for p := range e.parts {
		all = append(all, p)
	}
	if err := o.assigned(context.Background(), bus.Claims{events.TopicRequests: all, events.TopicReplies: all}); err != nil {
		e.t.Fatal(err)
	}
	o.writers.Wait()
}

// writeTorn writes the first keep chunks of a snapshot of partition p, as
// an orchestrator killed while writing it leaves them.
func (e *env) writeTorn(o testOrch, p int32, keep int) {
	e.t.Helper()
	s := &snapshot{Partition: p, Partitions: e.parts, Covers: 1, LastID: "x", TakenAt: time.Now(), Running: genStates(e.t, 5)}
	msgs, _ := o.chunkRecords(s)
	if len(msgs) <= keep {
		e.t.Fatalf("a snapshot of %d chunks cannot be torn after %d", len(msgs), keep)
	}
	if _, err := o.kafka.Write(msgs[:keep]); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) writeRaw(o testOrch, p int32, m bus.OutRecord) {
	e.t.Helper()
	m.Topic, m.Partition = o.snapshotTopic(), p
	if _, err := o.kafka.Write([]bus.OutRecord{m}); err != nil {
		e.t.Fatal(err)
	}
}

func sameSagas(t *testing.T, got, want testOrch) {
	t.Helper()
	for p, w := range want.store.shards {
		g := got.store.shards[p]
		if g == nil {
			t.Fatalf("partition %d not recovered", p)
		}
		if !reflect.DeepEqual(g.running, w.running) || !reflect.DeepEqual(g.ended, w.ended) {
			t.Fatalf("partition %d: %d running and %d ended sagas, want %d and %d", p, len(g.running), len(g.ended), len(w.running), len(w.ended))
		}
	}
	if len(got.store.shards) != len(want.store.shards) {
		t.Fatalf("%d partitions recovered, want %d", len(got.store.shards), len(want.store.shards))
	}
}

func allRunning(o testOrch) map[string]saga.State {
	out := map[string]saga.State{}
	for _, sh := range o.store.shards {
		for id, s := range sh.running {
			out[id] = s
		}
	}
	return out
}

// logBuffer keeps an orchestrator's JSON log lines.
type logBuffer struct{ bustest.LogBuffer }

func (b *logBuffer) count(msg string) int {
	return strings.Count(b.String(), `"message":"`+msg)
}

// line returns the log line whose message starts with msg and that
// contains every one of with.
func (b *logBuffer) line(t *testing.T, msg string, with ...string) string {
	t.Helper()
next:
	for l := range strings.Lines(b.String()) {
		if !strings.Contains(l, `"message":"`+msg) {
			continue
		}
		for _, w := range with {
			if !strings.Contains(l, w) {
				continue next
			}
		}
		return l
	}
	t.Fatalf("no %q line with %q in:\n%s", msg, with, b.String())
	return ""
}
