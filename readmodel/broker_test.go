package readmodel_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/readmodel"
)

// startBroker returns a cluster with the folded topics provisioned.
func startBroker(t testing.TB) bus.Config {
	t.Helper()
	cfg := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	specs := []bus.TopicSpec{{Name: topicSagaLog}, {Name: topicBookings}, {Name: topicPayments}, {Name: topicDLQ}}
	if err := bus.Provision(ctx, cfg, specs); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// producer publishes simulated messages fast: asynchronously, in batches,
// in order per partition (idempotent producer, one request in flight).
type producer struct {
	t    testing.TB
	cfg  bus.Config
	p    sarama.AsyncProducer
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
	sent int
}

func newProducer(t testing.TB, cfg bus.Config) *producer {
	t.Helper()
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conf.Producer.Flush.Messages = 1000
	conf.Producer.Flush.Frequency = 5 * time.Millisecond
	conf.Producer.Flush.MaxMessages = 5000
	p, err := sarama.NewAsyncProducer(cfg.Brokers, conf)
	if err != nil {
		t.Fatal(err)
	}
	pr := &producer{t: t, cfg: cfg, p: p}
	pr.wg.Add(2)
	go func() {
		defer pr.wg.Done()
		for range p.Successes() {
		}
	}()
	go func() {
		defer pr.wg.Done()
		for err := range p.Errors() {
			pr.mu.Lock()
			if pr.err == nil {
				pr.err = err
			}
			pr.mu.Unlock()
		}
	}()
	return pr
}

// send publishes the sim's messages of the folded topics.
func (pr *producer) send(msgs []published) {
	for _, m := range msgs {
		if m.topic != topicSagaLog && m.topic != topicBookings && m.topic != topicPayments && m.topic != topicDLQ {
			continue
		}
		pm, err := bus.Marshaler{}.Marshal(pr.cfg.Topic(m.topic), m.msg)
		if err != nil {
			pr.t.Fatal(err)
		}
		pr.p.Input() <- pm
		pr.sent++
	}
}

// close waits until every message is acknowledged.
func (pr *producer) close() {
	pr.t.Helper()
	if err := pr.p.Close(); err != nil {
		pr.t.Fatal(err)
	}
	pr.wg.Wait()
	if pr.err != nil {
		pr.t.Fatal(pr.err)
	}
}

// publishSims runs sims (seeds from..) until at least n messages of the
// folded topics are published, and returns how many were.
func publishSims(t testing.TB, cfg bus.Config, seed int64, n int) int {
	t.Helper()
	pr := newProducer(t, cfg)
	for pr.sent < n {
		s := newSim(t, seed).run(100)
		pr.send(s.published)
		seed++
	}
	pr.close()
	return pr.sent
}

// publishLetters publishes a sim with n dead letters more than it would
// write, for tests that need the dead-letter topic to span batches.
func publishLetters(t testing.TB, cfg bus.Config, seed int64, n int) {
	t.Helper()
	s := newSim(t, seed).run(20)
	for range n {
		s.deadLetter()
	}
	pr := newProducer(t, cfg)
	pr.send(s.published)
	pr.close()
}

// readBack reads the folded topics as the broker holds them.
func readBack(t testing.TB, cfg bus.Config) []bus.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var recs []bus.Record
	for _, topic := range []string{topicSagaLog, topicBookings, topicPayments, topicDLQ} {
		if err := bus.ReadAll(ctx, cfg, cfg.Topic(topic), func(r bus.Record) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return recs
}

// caughtUp reports whether every projection has applied the whole log.
func caughtUp(t testing.TB, cfg bus.Config, db *readmodel.DB) (bool, string) {
	t.Helper()
	st, err := readmodel.Status(context.Background(), cfg, db)
	if err != nil {
		return false, err.Error()
	}
	for _, p := range st {
		if p.LagEvents > 0 {
			return false, jsonOf(t, st)
		}
	}
	return true, ""
}
