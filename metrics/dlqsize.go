package metrics

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// TopicSize reports how many records a topic holds at scrape time.
type TopicSize func(ctx context.Context) (int64, error)

// dlqCollector is saga_dlq_records: what the dead-letter topic holds,
// which saga_dlq_messages_total (what this process moved there since it
// started) cannot say after a restart or across processes.
type dlqCollector struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	next    int
	sources map[int]TopicSize
}

func newDLQCollector() *dlqCollector {
	return &dlqCollector{desc: prometheus.NewDesc("saga_dlq_records",
		"Records the dead-letter topic holds: its partitions' ends minus their oldest offsets.", nil, nil),
		sources: map[int]TopicSize{}}
}

// AddDLQSize adds a source of saga_dlq_records; the first that answers a
// scrape is reported (every source of a cluster says the same).
func (m *Metrics) AddDLQSize(f TopicSize) (remove func()) {
	if m == nil {
		return func() {}
	}
	c := m.dlqSize
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.next
	c.next++
	c.sources[id] = f
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.sources, id)
	}
}

func (c *dlqCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *dlqCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	sources := make([]TopicSize, 0, len(c.sources))
	for _, f := range c.sources {
		sources = append(sources, f)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, f := range sources {
		if n, err := f(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
			return
		}
	}
}
