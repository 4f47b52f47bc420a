package bus

import (
	"context"
	"sync"
)

// topicSize counts the records a topic holds over one connection, opened
// on the first scrape and again after an error.
type topicSize struct {
	cfg   Config
	topic string

	mu  sync.Mutex
	log *Log
}

// WatchTopicSize adds the records topic (a cluster name) holds to
// cfg.Metrics as saga_dlq_records while it runs; the returned func stops
// it and closes its connection.
func WatchTopicSize(cfg Config, topic string) (stop func()) {
	if cfg.Metrics == nil {
		return func() {}
	}
	t := &topicSize{cfg: cfg, topic: topic}
	remove := cfg.Metrics.AddDLQSize(t.read)
	return func() {
		remove()
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.log != nil {
			_ = t.log.Close()
			t.log = nil
		}
	}
}

func (t *topicSize) read(context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.log == nil {
		l, err := OpenLog(t.cfg, LogOptions{})
		if err != nil {
			return 0, err
		}
		t.log = l
	}
	n, err := t.count()
	if err != nil {
		_ = t.log.Close()
		t.log = nil
	}
	return n, err
}

func (t *topicSize) count() (int64, error) {
	parts, err := t.log.Partitions(t.topic)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, p := range parts {
		oldest, end, err := t.log.Bounds(t.topic, p)
		if err != nil {
			return 0, err
		}
		n += max(end-oldest, 0)
	}
	return n, nil
}
