// Package metrics owns the product's Prometheus registry and the metric
// vectors every part records into. A nil *Metrics is valid and records
// nothing, so a part runs without metrics at no cost.
//
// Counters restart at zero with the process. Gauges are never counted up
// and down: they are computed at scrape time from the state of the parts
// (the orchestrator's in-memory sagas, the consumer groups' committed
// offsets, the read model's stored offsets), through sources the parts
// add (AddCensus, AddConsumerLag, AddProjectionLag), so a restart shows
// the same values as before it.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a step attempt and of a webhook delivery.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeTimedOut  = "timed_out"

	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
	WebhookParked    = "parked"
)

// Metrics is the registry and the product's metrics.
type Metrics struct {
	reg *prometheus.Registry

	started      *prometheus.CounterVec
	ended        *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
	stepAttempts *prometheus.CounterVec
	dlq          *prometheus.CounterVec
	webhooks     *prometheus.CounterVec

	// children caches the series of each label set, so that recording
	// on the hot path is a map read, not a hash of the labels.
	mu       sync.RWMutex
	counters map[key]prometheus.Counter
	steps    map[key]stepSeries

	state   *stateCollector
	dlqSize *dlqCollector
}

// key names one series of one vector: vec tells the vectors apart.
type key struct{ vec, a, b, c string }

type stepSeries struct {
	duration prometheus.Observer
	attempts prometheus.Counter
}

// New returns metrics on a registry of their own, with the Go and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saga_sagas_started_total",
			Help: "Sagas started, by definition."}, []string{"definition"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saga_sagas_ended_total",
			Help: "Sagas ended, by definition and status (completed, compensated, failed)."}, []string{"definition", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "saga_step_duration_seconds",
			Help:    "Duration of one attempt of a saga step, from its command to its outcome.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
			[]string{"definition", "step", "outcome"}),
		stepAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saga_step_attempts_total",
			Help: "Attempts of saga steps, by outcome (succeeded, failed, timed_out)."}, []string{"definition", "step", "outcome"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saga_dlq_messages_total",
			Help: "Messages moved to the dead-letter topic, by the topic they were read from and the reason's code."}, []string{"topic", "reason"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "saga_webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome (delivered, failed, parked)."}, []string{"outcome"}),
		counters: map[key]prometheus.Counter{},
		steps:    map[key]stepSeries{},
		state:    newStateCollector(),
		dlqSize:  newDLQCollector(),
	}
	m.reg.MustRegister(m.started, m.ended, m.stepDuration, m.stepAttempts, m.dlq, m.webhooks, m.state, m.dlqSize,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry the metrics are on, for tests and for adding
// collectors of other libraries.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition format; 404 when m is nil.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// counter returns the cached series of a counter vector.
func (m *Metrics) counter(vec *prometheus.CounterVec, k key, labels ...string) prometheus.Counter {
	m.mu.RLock()
	c, ok := m.counters[k]
	m.mu.RUnlock()
	if ok {
		return c
	}
	c = vec.WithLabelValues(labels...)
	m.mu.Lock()
	m.counters[k] = c
	m.mu.Unlock()
	return c
}

// SagaStarted counts a saga started.
func (m *Metrics) SagaStarted(definition string) {
	if m == nil {
		return
	}
	m.counter(m.started, key{vec: "started", a: definition}, definition).Inc()
}

// SagaEnded counts a saga ended with status.
func (m *Metrics) SagaEnded(definition, status string) {
	if m == nil {
		return
	}
	m.counter(m.ended, key{vec: "ended", a: definition, b: status}, definition, status).Inc()
}

// StepAttempt records the end of one attempt of a step: its outcome and
// how long it took.
func (m *Metrics) StepAttempt(definition, step, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	k := key{a: definition, b: step, c: outcome}
	m.mu.RLock()
	s, ok := m.steps[k]
	m.mu.RUnlock()
	if !ok {
		s = stepSeries{duration: m.stepDuration.WithLabelValues(definition, step, outcome),
			attempts: m.stepAttempts.WithLabelValues(definition, step, outcome)}
		m.mu.Lock()
		m.steps[k] = s
		m.mu.Unlock()
	}
	s.attempts.Inc()
	s.duration.Observe(max(took, 0).Seconds())
}

// DeadLettered counts a message moved to the dead-letter topic from
// topic, for reason (see Reason: a code, never free text).
func (m *Metrics) DeadLettered(topic, reason string) {
	if m == nil {
		return
	}
	m.counter(m.dlq, key{vec: "dlq", a: topic, b: reason}, topic, reason).Inc()
}

// WebhookDelivery counts one delivery attempt of a webhook by outcome.
func (m *Metrics) WebhookDelivery(outcome string) {
	if m == nil {
		return
	}
	m.counter(m.webhooks, key{vec: "webhook", a: outcome}, outcome).Inc()
}
