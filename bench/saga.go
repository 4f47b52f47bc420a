package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

// Mix is the share of book-ticket sagas, in percent, that are meant to end
// each way: compensated ones are paid with a declined card.
type Mix struct {
	Completed   int `json:"completed"`
	Compensated int `json:"compensated"`
}

// DefaultMix is nine bookings in ten completed, one compensated.
var DefaultMix = Mix{Completed: 90, Compensated: 10}

// ParseMix reads "completed=90,compensated=10".
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil || n < 0 {
			return m, fmt.Errorf("mix %q: want completed=N,compensated=M with N+M = 100", s)
		}
		switch k {
		case "completed":
			m.Completed = n
		case "compensated":
			m.Compensated = n
		default:
			return m, fmt.Errorf("mix %q: unknown outcome %q (want completed or compensated)", s, k)
		}
	}
	if m.Completed+m.Compensated != 100 {
		return m, fmt.Errorf("mix %q: the shares add up to %d, not 100", s, m.Completed+m.Compensated)
	}
	return m, nil
}

// token is the payment token of the i-th saga: the declined ones are spread
// evenly through the run.
func (m Mix) token(i int) string {
	if (i*m.Compensated)/100 != ((i+1)*m.Compensated)/100 {
		return demo.TokenDeclined
	}
	return demo.TokenOK
}

// SagaSpec is a run of book-ticket sagas.
type SagaSpec struct {
	Sagas int
	// Rate is the sagas posted per second; 0 posts as fast as the producer takes them.
	Rate float64
	Mix  Mix
	// Shows spreads the bookings over this many shows (bookings of one
	// show are serialised by its partition, as they must be).
	Shows int
	// Warmup sagas run first and are not counted.
	Warmup int
	// Timeout bounds the wait for the last saga after the last post.
	Timeout time.Duration
	// Sample is the interval of the time series; one second by default.
	Sample time.Duration
	// BeforeRun, when set, is called after the warm-up, just before the
	// measured sagas are posted.
	BeforeRun func()
	// HTTP, when set, posts the bookings through the HTTP API instead of
	// straight to Kafka.
	HTTP *HTTPTarget
}

func (s *SagaSpec) setDefaults() {
	if s.Mix == (Mix{}) {
		s.Mix = DefaultMix
	}
	if s.Shows == 0 {
		s.Shows = 16
	}
	if s.Timeout == 0 {
		s.Timeout = 2 * time.Minute
	}
	if s.Sample == 0 {
		s.Sample = time.Second
	}
}

// Validate reports every problem at once.
func (s SagaSpec) Validate() error {
	var errs []error
	if s.Sagas < 1 {
		errs = append(errs, fmt.Errorf("sagas must be at least 1, got %d", s.Sagas))
	}
	if s.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate must not be negative, got %g", s.Rate))
	}
	if s.Warmup < 0 || s.Shows < 0 {
		errs = append(errs, errors.New("warmup and shows must not be negative"))
	}
	return errors.Join(errs...)
}

// Latency is a distribution in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencyOf(ms []float64) Latency {
	s := slices.Clone(ms)
	slices.Sort(s)
	if len(s) == 0 {
		return Latency{}
	}
	return Latency{P50: Percentile(s, 50), P95: Percentile(s, 95), P99: Percentile(s, 99), Max: s[len(s)-1]}
}

// SagaResult is what a run measured.
type SagaResult struct {
	Sagas         int                `json:"sagas"`
	Outcomes      map[string]int     `json:"outcomes"`
	Seconds       float64            `json:"seconds"`
	SagasPerSec   float64            `json:"sagas_per_sec"`
	Records       int64              `json:"records"`
	RecordsBy     map[string]int64   `json:"records_by_topic"`
	RecordsPerSec float64            `json:"records_per_sec"`
	PerSaga       float64            `json:"records_per_saga"`
	Latency       Latency            `json:"latency_ms"`
	Steps         map[string]Latency `json:"step_latency_ms"`
	Samples       []Sample           `json:"samples"`
	// API is the latency of the HTTP requests, when the run posted
	// through the API.
	API *Latency `json:"api_latency_ms,omitempty"`
	// RecordSizes are value sizes sampled from the run's topics in the
	// proportion of their records: the raw pipeline replays them.
	RecordSizes []int `json:"-"`
	// Topics are the cluster topics the run wrote to.
	Topics []string `json:"-"`
}

// RunSagas drives book-ticket sagas through a running system (whose parts
// consume cfg's namespace) and measures them.
func RunSagas(ctx context.Context, cfg bus.Config, spec SagaSpec) (SagaResult, error) {
	spec.setDefaults()
	if err := spec.Validate(); err != nil {
		return SagaResult{}, err
	}
	shows, err := addShows(ctx, cfg, spec)
	if err != nil {
		return SagaResult{}, err
	}
	if spec.HTTP != nil {
		if err := waitShowsListed(ctx, spec.HTTP.Base, shows, spec.Timeout); err != nil {
			return SagaResult{}, err
		}
	}
	d, err := newDriver(cfg, spec, shows)
	if err != nil {
		return SagaResult{}, err
	}
	defer d.close()
	if spec.Warmup > 0 {
		if _, err := d.phase(ctx, "warmup", spec.Warmup, 0); err != nil {
			return SagaResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if spec.BeforeRun != nil {
		spec.BeforeRun()
	}
	return d.phase(ctx, "run", spec.Sagas, spec.Rate)
}

// addShows lists the shows of the run at the booking service, with seats
// enough for every booking, and waits until they are on sale.
func addShows(ctx context.Context, cfg bus.Config, spec SagaSpec) ([]string, error) {
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	run := strings.ReplaceAll(uuid.NewString(), "-", "")[:8]
	var ids []string
	var receipts []client.Receipt
	for i := range spec.Shows {
		id := fmt.Sprintf("bench-%s-%d", run, i)
		r, err := c.AddShow(ctx, events.ShowData{ShowID: id, Title: "Benchmark " + id, Venue: "Bench Hall", Country: "US",
			Capacity: events.MaxCapacity, PriceCents: 1000}, "bench")
		if err != nil {
			return nil, err
		}
		ids, receipts = append(ids, id), append(receipts, r)
	}
	wctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	for _, r := range receipts {
		v, err := c.Wait(wctx, r.SagaID)
		if err != nil {
			return nil, fmt.Errorf("show %s not listed: %w (is the system running in namespace %q?)", r.BookingRef, err, cfg.Namespace)
		}
		if v.Status != "completed" {
			return nil, fmt.Errorf("show %s not listed: add-show saga %s", r.BookingRef, v.Status)
		}
	}
	return ids, nil
}

// driver posts sagas and watches the log for their ends.
type driver struct {
	cfg      bus.Config
	spec     SagaSpec
	shows    []string
	producer sarama.AsyncProducer
	offsets  *offsets
	prodErrs chan error
	n        int // sagas posted so far, for unique keys across phases
	api      *apiPoster
}

func newDriver(cfg bus.Config, spec SagaSpec, shows []string) (*driver, error) {
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	conf.Producer.Return.Successes = false
	conf.Producer.Return.Errors = true
	producer, err := sarama.NewAsyncProducer(cfg.Brokers, conf)
	if err != nil {
		return nil, err
	}
	var topics []string
	for _, t := range system.Topics() {
		topics = append(topics, cfg.Topic(t.Name))
	}
	off, err := newOffsets(cfg, topics)
	if err != nil {
		producer.Close()
		return nil, err
	}
	d := &driver{cfg: cfg, spec: spec, shows: shows, producer: producer, offsets: off, prodErrs: make(chan error, 1)}
	if spec.HTTP != nil {
		d.api = newAPIPoster(*spec.HTTP)
	}
	go func() {
		for err := range producer.Errors() {
			select {
			case d.prodErrs <- err:
			default:
			}
		}
	}()
	return d, nil
}

func (d *driver) close() {
	_ = d.producer.Close()
	_ = d.offsets.Close()
}

// booking is the i-th booking of the run.
func (d *driver) booking(i int) client.BookRequest {
	users := []string{"alice", "bob"}
	return client.BookRequest{UserID: users[i%len(users)], ShowID: d.shows[i%len(d.shows)], Seats: 1,
		PaymentToken: d.spec.Mix.token(i), IdempotencyKey: fmt.Sprintf("%s-%d", d.shows[0], i)}
}

// request is the StartSaga of the i-th booking, as client.Book posts it.
func (d *driver) request(i int, at time.Time) (string, *sarama.ProducerMessage, error) {
	e, err := client.BookingRequest(d.booking(i), at)
	if err != nil {
		return "", nil, err
	}
	return e.SagaID, toProducerMessage(d.cfg, d.cfg.Topic(events.TopicRequests), e), nil
}

func toProducerMessage(cfg bus.Config, topic string, e events.Envelope) *sarama.ProducerMessage {
	msg, _ := bus.MarshalerFor(cfg).Marshal(topic, bus.ToMessage(e))
	return msg
}

// phase posts n sagas at rate (0: at once) and waits for every one to end.
func (d *driver) phase(ctx context.Context, name string, n int, rate float64) (SagaResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs := newObserver(n)
	from, err := d.offsets.ends()
	if err != nil {
		return SagaResult{}, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = obs.follow(ctx, d.cfg, from[d.cfg.Topic(events.TopicSagaLog)])
	}()
	defer wg.Wait()
	defer cancel()

	start := time.Now()
	samples := make(chan []Sample, 1)
	go func() { samples <- d.sample(ctx, obs, start, from) }()
	if err := d.post(ctx, obs, n, rate, start); err != nil {
		return SagaResult{}, err
	}
	select {
	case <-obs.done:
	case err := <-d.prodErrs:
		return SagaResult{}, fmt.Errorf("%s: post a request: %w", name, err)
	case <-time.After(d.spec.Timeout):
		obs.mu.Lock()
		ended := obs.ended
		obs.mu.Unlock()
		return SagaResult{}, fmt.Errorf("%s: %d of %d sagas ended within %s of the last post", name, ended, n, d.spec.Timeout)
	case <-ctx.Done():
		return SagaResult{}, ctx.Err()
	}
	elapsed := time.Since(start)
	to, err := d.offsets.ends()
	if err != nil {
		return SagaResult{}, err
	}
	cancel()
	res := d.result(obs, n, elapsed, from, to, <-samples)
	if d.api != nil {
		l := d.api.take()
		res.API = &l
	}
	res.RecordSizes, err = sampleSizes(d.cfg, from, to, res.RecordsBy)
	return res, err
}

// post sends n requests, the i-th at start+i/rate: latency is measured from
// that schedule, so a bench that falls behind does not hide the wait.
func (d *driver) post(ctx context.Context, obs *observer, n int, rate float64, start time.Time) error {
	for i := range n {
		at := time.Now()
		if rate > 0 {
			at = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if wait := time.Until(at); wait > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(wait):
				}
			}
		}
		if d.api != nil {
			b := d.booking(d.n)
			d.n++
			obs.track(events.SagaIDFor(b.IdempotencyKey), at)
			if err := d.api.post(ctx, b, d.prodErrs); err != nil {
				return err
			}
			continue
		}
		id, msg, err := d.request(d.n, at)
		if err != nil {
			return err
		}
		d.n++
		obs.track(id, at)
		select {
		case d.producer.Input() <- msg:
		case err := <-d.prodErrs:
			return fmt.Errorf("post a request: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// sample takes the time series: sagas ended, their latencies and records
// written, per interval, until ctx ends; the last, shorter interval too.
func (d *driver) sample(ctx context.Context, obs *observer, start time.Time, from map[string][]int64) []Sample {
	var out []Sample
	t := time.NewTicker(d.spec.Sample)
	defer t.Stop()
	last, lastAt := from, start
	take := func(now time.Time) {
		ends, err := d.offsets.ends()
		if err != nil {
			return
		}
		_, recs := total(last, ends)
		lat := obs.takeRecent()
		slices.Sort(lat)
		secs := now.Sub(lastAt).Seconds()
		out = append(out, Sample{At: now.Sub(start), SagasPerSec: float64(len(lat)) / secs, RecordsPerSec: float64(recs) / secs,
			P50: Percentile(lat, 50), P95: Percentile(lat, 95), P99: Percentile(lat, 99)})
		last, lastAt = ends, now
	}
	for {
		select {
		case <-ctx.Done():
			take(time.Now())
			return out
		case now := <-t.C:
			take(now)
		}
	}
}

func (d *driver) result(obs *observer, n int, elapsed time.Duration, from, to map[string][]int64, samples []Sample) SagaResult {
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var all []float64
	for _, t := range obs.sagas {
		all = append(all, float64(t.ended.Sub(t.sent))/float64(time.Millisecond))
	}
	steps := map[string]Latency{}
	for name, ms := range obs.steps {
		steps[name] = latencyOf(ms)
	}
	per, recs := total(from, to)
	byTopic := map[string]int64{}
	var topics []string
	for t, c := range per {
		if c > 0 {
			byTopic[strings.TrimPrefix(t, d.cfg.Topic(""))] = c
			topics = append(topics, t)
		}
	}
	slices.Sort(topics)
	secs := elapsed.Seconds()
	return SagaResult{Sagas: n, Outcomes: obs.status, Seconds: secs, SagasPerSec: float64(n) / secs,
		Records: recs, RecordsBy: byTopic, RecordsPerSec: float64(recs) / secs, PerSaga: float64(recs) / float64(n),
		Latency: latencyOf(all), Steps: steps, Samples: samples, Topics: topics}
}
