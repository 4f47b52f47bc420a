package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
)

// restartable is an embedded broker a test can stop and start again on
// the same address and data.
type restartable struct {
	t    *testing.T
	dir  string
	addr string
	emb  *bus.Embedded
}

func startRestartable(t *testing.T) (*restartable, bus.Config) {
	t.Helper()
	r := &restartable{t: t, dir: t.TempDir()}
	r.emb = bustest.StartEmbedded(t, r.dir)
	r.addr = r.emb.Addrs()[0]
	return r, bus.Config{Brokers: r.emb.Addrs(), Namespace: bustest.Namespace(), Retry: time.Minute}
}

func (r *restartable) stop()  { r.emb.Close() }
func (r *restartable) start() { r.emb = bustest.StartEmbeddedAt(r.t, r.dir, r.addr) }

func numbered(from, n int) []*message.Message {
	var out []*message.Message
	for i := from; i < from+n; i++ {
		out = append(out, keyed(fmt.Sprintf("k%d", i%5), fmt.Sprintf("m%02d", i)))
	}
	return out
}

// A follower reconnects after the broker restarts and resumes each
// partition after the last record it delivered: every record once.
func TestFollowResumesAcrossABrokerRestart(t *testing.T) {
	b, cfg := startRestartable(t)
	provision(t, cfg, bus.TopicSpec{Name: "log"})
	topic := cfg.Topic("log")
	publish(t, cfg, topic, numbered(0, 10)...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var got []string
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(ctx, cfg, topic, func(r bus.Record) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, string(r.Value))
			if len(got) == 20 {
				cancel()
			}
			return nil
		})
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	bustest.Eventually(t, 30*time.Second, func() (bool, string) { return count() == 10, fmt.Sprint(count(), " records") })
	b.stop()
	time.Sleep(2 * time.Second) // the follower meets the broker gone
	b.start()
	publish(t, cfg, topic, numbered(10, 10)...)
	if err := <-done; err != nil {
		t.Fatalf("follow across a restart: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	want := payloads(nil)
	for _, m := range numbered(0, 20) {
		want = append(want, string(m.Payload))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("followed %v, want each of %v once", got, want)
	}
}

// A read and a write made while the broker is down wait for it, within
// Config.Retry.
func TestReadAndWriteWaitForABrokerRestart(t *testing.T) {
	b, cfg := startRestartable(t)
	provision(t, cfg, bus.TopicSpec{Name: "log"})
	topic := cfg.Topic("log")
	publish(t, cfg, topic, numbered(0, 10)...)
	pub, err := bus.NewPublisher(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pub = bus.RetryingPublisher(cfg, pub)
	defer pub.Close()
	b.stop()

	read, wrote := make(chan []string, 1), make(chan error, 1)
	go func() {
		var got []string
		err := bus.ReadAll(context.Background(), cfg, topic, func(r bus.Record) error { got = append(got, string(r.Value)); return nil })
		if err != nil {
			got = []string{err.Error()}
		}
		read <- got
	}()
	go func() { wrote <- pub.Publish(topic, numbered(10, 1)...) }()
	time.Sleep(2 * time.Second)
	b.start()
	if err := <-wrote; err != nil {
		t.Fatalf("a write while the broker restarted: %v", err)
	}
	if got := <-read; len(got) < 10 {
		t.Fatalf("a read while the broker restarted: %v", got)
	}
	if n := len(readAll(t, cfg, topic)); n != 11 {
		t.Fatalf("the log holds %d records, want 11", n)
	}
}

// Past Config.Retry a read fails with one line that says for how long
// Kafka was unavailable.
func TestReadFailsAfterTheRetryBound(t *testing.T) {
	b, cfg := startRestartable(t)
	provision(t, cfg, bus.TopicSpec{Name: "log"})
	b.stop()
	cfg.Retry = 2 * time.Second
	err := bus.ReadAll(context.Background(), cfg, cfg.Topic("log"), func(bus.Record) error { return nil })
	if err == nil || !contains(err.Error(), "unavailable for") || !contains(err.Error(), "read "+cfg.Topic("log")) {
		t.Fatalf("read of a broker down for good: %v", err)
	}
}
