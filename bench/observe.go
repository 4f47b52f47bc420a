package bench

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// tracked is one saga the bench posted, as seen in the saga log.
type tracked struct {
	sent   time.Time
	ended  time.Time
	status string
	// started holds the occurred_at of each step attempt in flight, by
	// step name (compensations under "<step> (undo)").
	started map[string]time.Time
}

// observer follows the saga log and times each posted saga from its request
// to the record that ends it, and each step from its command to its answer
// (both as the orchestrator stamped them).
type observer struct {
	mu     sync.Mutex
	sagas  map[string]*tracked
	ended  int
	steps  map[string][]float64 // ms, by step
	recent []float64            // ms, sagas ended since the last sample
	done   chan struct{}        // closed when every expected saga has ended
	expect int
	status map[string]int
}

// newObserver expects n sagas: done is closed when the n-th has ended.
func newObserver(n int) *observer {
	return &observer{sagas: map[string]*tracked{}, steps: map[string][]float64{}, status: map[string]int{},
		done: make(chan struct{}), expect: n}
}

// track registers a saga about to be posted.
func (o *observer) track(sagaID string, sent time.Time) {
	o.mu.Lock()
	o.sagas[sagaID] = &tracked{sent: sent, started: map[string]time.Time{}}
	o.mu.Unlock()
}

// follow reads every partition of the saga log from the given offsets until
// ctx ends.
func (o *observer) follow(ctx context.Context, cfg bus.Config, from []int64) error {
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return err
	}
	consumer, err := sarama.NewConsumer(cfg.Brokers, conf)
	if err != nil {
		return err
	}
	defer consumer.Close()
	topic := cfg.Topic(events.TopicSagaLog)
	var wg sync.WaitGroup
	for p, off := range from {
		pc, err := consumer.ConsumePartition(topic, int32(p), off)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					o.record(m, time.Now())
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (o *observer) record(m *sarama.ConsumerMessage, seen time.Time) {
	var typ events.Type
	var sagaID string
	for _, h := range m.Headers {
		switch string(h.Key) {
		case events.HeaderType:
			typ = events.Type(h.Value)
		case events.HeaderSagaID:
			sagaID = string(h.Value)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.sagas[sagaID]
	if !ok || !t.ended.IsZero() {
		return
	}
	switch typ {
	case events.StepStarted, events.CompensationStarted, events.StepSucceeded, events.StepFailed,
		events.StepTimedOut, events.StepCompensated, events.CompensationFailed:
		o.step(t, typ, m)
	case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
		t.ended, t.status = seen, string(typ)
		ms := float64(seen.Sub(t.sent)) / float64(time.Millisecond)
		o.recent = append(o.recent, ms)
		o.status[string(typ)]++
		if o.ended++; o.ended == o.expect {
			close(o.done)
		}
	}
}

// step times a step attempt from its StepStarted (or CompensationStarted)
// to the event that answers it.
func (o *observer) step(t *tracked, typ events.Type, m *sarama.ConsumerMessage) {
	var p events.StepV1
	if json.Unmarshal(m.Value, &p) != nil {
		return
	}
	var at time.Time
	for _, h := range m.Headers {
		if string(h.Key) == events.HeaderOccurredAt {
			at, _ = time.Parse(time.RFC3339Nano, string(h.Value))
		}
	}
	name := p.Step
	if typ == events.CompensationStarted || typ == events.StepCompensated || typ == events.CompensationFailed {
		name += " (undo)"
	}
	if typ == events.StepStarted || typ == events.CompensationStarted {
		t.started[name] = at
		return
	}
	if began, ok := t.started[name]; ok {
		o.steps[name] = append(o.steps[name], float64(at.Sub(began))/float64(time.Millisecond))
		delete(t.started, name)
	}
}

// takeRecent returns the latencies of the sagas ended since the last call.
func (o *observer) takeRecent() []float64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.recent
	o.recent = nil
	return r
}
