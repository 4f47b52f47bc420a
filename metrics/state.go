package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SagaCount is how many of one definition's sagas a part holds: running
// (not ended) and stuck (needing an operator: past their SLO and not
// ended, or parked as failed).
type SagaCount struct{ Running, Stuck int }

// Census counts a part's sagas by definition at scrape time. The
// orchestrator adds one over the sagas of the partitions it owns, which
// it recovered from the log: after a restart the gauges show what the log
// says, not what was counted since. The stuck-saga watchdog's findings
// (SagaStuck events) are folded into those sagas, so saga_sagas_stuck is
// fed by the same census; a watchdog elsewhere may add its own Census
// that reports only Stuck.
type Census func() map[string]SagaCount

// PartitionLag is how many records a consumer group has not yet
// committed on one partition: the log end minus the committed offset.
type PartitionLag struct {
	Group, Topic string
	Partition    int32
	Lag          int64
}

// ConsumerLag reports the lag of a consumer group at scrape time.
type ConsumerLag func(ctx context.Context) ([]PartitionLag, error)

// ProjectionLag reports, per projection, the records of its topics not
// yet applied to the read model.
type ProjectionLag func(ctx context.Context) (map[string]int64, error)

// scrapeTimeout bounds the Kafka and SQLite reads of one scrape.
const scrapeTimeout = 5 * time.Second

// stateCollector computes the gauges from the sources at scrape time.
type stateCollector struct {
	running, stuck, consumerLag, projectionLag *prometheus.Desc

	mu          sync.Mutex
	next        int
	census      map[int]Census
	consumers   map[int]ConsumerLag
	projections map[int]ProjectionLag
}

func newStateCollector() *stateCollector {
	return &stateCollector{
		running: prometheus.NewDesc("saga_sagas_running", "Sagas started and not yet ended, by definition.", []string{"definition"}, nil),
		stuck: prometheus.NewDesc("saga_sagas_stuck",
			"Sagas that need an operator (past their SLO, or parked as failed), by definition.", []string{"definition"}, nil),
		consumerLag: prometheus.NewDesc("saga_consumer_lag",
			"Records behind the log end a consumer group's committed offset is.", []string{"group", "topic", "partition"}, nil),
		projectionLag: prometheus.NewDesc("saga_projection_lag_events",
			"Records of a projection's topics not yet applied to the read model.", []string{"projection"}, nil),
		census: map[int]Census{}, consumers: map[int]ConsumerLag{}, projections: map[int]ProjectionLag{},
	}
}

// add registers a source in one of the maps and returns its removal.
func add[F any](c *stateCollector, into map[int]F, f F) func() {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.next
	c.next++
	into[id] = f
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(into, id)
	}
}

// AddCensus adds a source of saga_sagas_running and saga_sagas_stuck;
// the counts of every source are summed. Call the returned func when the
// part stops.
func (m *Metrics) AddCensus(c Census) (remove func()) {
	if m == nil {
		return func() {}
	}
	return add(m.state, m.state.census, c)
}

// AddConsumerLag adds a source of saga_consumer_lag.
func (m *Metrics) AddConsumerLag(f ConsumerLag) (remove func()) {
	if m == nil {
		return func() {}
	}
	return add(m.state, m.state.consumers, f)
}

// AddProjectionLag adds a source of saga_projection_lag_events.
func (m *Metrics) AddProjectionLag(f ProjectionLag) (remove func()) {
	if m == nil {
		return func() {}
	}
	return add(m.state, m.state.projections, f)
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.running
	ch <- c.stuck
	ch <- c.consumerLag
	ch <- c.projectionLag
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	census := values(c.census)
	consumers := values(c.consumers)
	projections := values(c.projections)
	c.mu.Unlock()

	counts := map[string]SagaCount{}
	for _, f := range census {
		for def, n := range f() {
			sum := counts[def]
			sum.Running += n.Running
			sum.Stuck += n.Stuck
			counts[def] = sum
		}
	}
	for def, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, float64(n.Running), def)
		ch <- prometheus.MustNewConstMetric(c.stuck, prometheus.GaugeValue, float64(n.Stuck), def)
	}

	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	// Two members of one group in a process report the same partitions.
	type series struct {
		group, topic string
		p            int32
	}
	seen := map[series]bool{}
	for _, f := range consumers {
		lags, err := f(ctx)
		if err != nil {
			continue // a broker away: the series are missing from this scrape
		}
		for _, l := range lags {
			s := series{l.Group, l.Topic, l.Partition}
			if seen[s] {
				continue
			}
			seen[s] = true
			ch <- prometheus.MustNewConstMetric(c.consumerLag, prometheus.GaugeValue, float64(l.Lag),
				l.Group, l.Topic, strconv.Itoa(int(l.Partition)))
		}
	}
	projected := map[string]bool{}
	for _, f := range projections {
		lags, err := f(ctx)
		if err != nil {
			continue
		}
		for name, n := range lags {
			if projected[name] {
				continue
			}
			projected[name] = true
			ch <- prometheus.MustNewConstMetric(c.projectionLag, prometheus.GaugeValue, float64(n), name)
		}
	}
}

func values[F any](m map[int]F) []F {
	out := make([]F, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	return out
}
