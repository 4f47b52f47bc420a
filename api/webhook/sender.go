package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/metrics"
)

// Event types a subscription can ask for.
const (
	BookingCompleted   = "booking.completed"
	BookingCompensated = "booking.compensated"
	BookingFailed      = "booking.failed"
	BookingCancelled   = "booking.cancelled"
)

// EventTypes lists every event type.
func EventTypes() []string {
	return []string{BookingCompleted, BookingCompensated, BookingFailed, BookingCancelled}
}

// Defaults of Config.
const (
	DefaultHorizon     = 24 * time.Hour
	DefaultBackoff     = 5 * time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultTimeout     = 10 * time.Second
	DefaultPerEndpoint = 4
	DefaultWorkers     = 32
	DefaultPoll        = 200 * time.Millisecond
)

// Config is what a Sender needs; zero durations take the defaults.
type Config struct {
	Bus   bus.Config
	Store *Store
	Log   zerolog.Logger
	// Horizon is how long a delivery is retried before it is parked.
	Horizon time.Duration
	// Backoff is the wait after the first failure; it doubles after each
	// further one, up to MaxBackoff, with jitter.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt.
	Timeout time.Duration
	// PerEndpoint bounds the attempts in flight to one subscription, so a
	// slow endpoint holds at most that many of the Workers.
	PerEndpoint, Workers int
	// Poll is how often due deliveries are looked for.
	Poll time.Duration
	// Guard is checked again at every connection.
	Guard Guard
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Horizon, DefaultHorizon)
	def(&c.Backoff, DefaultBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.Timeout, DefaultTimeout)
	def(&c.Poll, DefaultPoll)
	if c.PerEndpoint <= 0 {
		c.PerEndpoint = DefaultPerEndpoint
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
}

// Sender turns the saga log into deliveries and sends them.
type Sender struct {
	cfg    Config
	store  *Store
	log    zerolog.Logger
	client *http.Client
	now    func() time.Time

	// records counts the saga log records read since the sender started.
	records atomic.Int64

	mu       sync.Mutex
	inFlight map[string]bool // delivery ids
	perSub   map[string]int
	wg       sync.WaitGroup
}

// NewSender builds a sender on c.
func NewSender(c Config) (*Sender, error) {
	c.setDefaults()
	if c.Store == nil {
		return nil, errors.New("webhook: a store is required")
	}
	if err := c.Bus.Validate(); err != nil {
		return nil, err
	}
	tr := &http.Transport{DialContext: dialContext, MaxIdleConnsPerHost: c.PerEndpoint, IdleConnTimeout: time.Minute,
		TLSHandshakeTimeout: 5 * time.Second, ResponseHeaderTimeout: c.Timeout}
	client := &http.Client{Transport: tr, Timeout: c.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Sender{cfg: c, store: c.Store, log: c.Log, client: client, now: time.Now,
		inFlight: map[string]bool{}, perSub: map[string]int{}}, nil
}

// Run follows the saga log and sends deliveries until ctx ends.
func (s *Sender) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.follow(ctx) }()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	defer s.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-t.C:
			if err := s.dispatch(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("webhook: looking for due deliveries failed")
			}
		}
	}
}

// follow reads the saga log from the store's resume point on (see
// resume.go): the starts tell each saga's definition (kept while the saga
// runs), the ends past the stored offsets become deliveries.
func (s *Sender) follow(ctx context.Context) error {
	topic := s.cfg.Bus.Topic(events.TopicSagaLog)
	stored, err := s.store.offsets(ctx, topic)
	if err != nil {
		return err
	}
	from, defs, err := s.store.resumePoint(ctx, topic)
	if err != nil {
		return err
	}
	s.log.Info().Interface("from", from).Int("running", len(defs)).Msg("webhook: reading the saga log")
	t := newTracker(defs, s.now())
	err = bus.FollowFrom(ctx, s.cfg.Bus, topic, from, func(r bus.Record) error {
		s.records.Add(1)
		if err := s.take(ctx, topic, stored, t, r); err != nil {
			return err
		}
		t.read(r.Partition, r.Offset)
		if now := s.now(); t.due(now) {
			if err := s.store.checkpoint(ctx, topic, t.next, t.started, t.ended); err != nil {
				return err
			}
			t.written(now)
		}
		return nil
	})
	if t.dirty && ctx.Err() != nil {
		// Stopped: keep what was read, on a context of its own.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if cerr := s.store.checkpoint(cctx, topic, t.next, t.started, t.ended); cerr != nil {
			s.log.Warn().Err(cerr).Msg("webhook: the last resume point was not written; the next start rereads a little more")
		}
	}
	return err
}

// take handles one saga log record: a start is remembered, an end past the
// stored offsets becomes its deliveries.
func (s *Sender) take(ctx context.Context, topic string, stored map[int32]int64, t *tracker, r bus.Record) error {
	if _, err := s.cfg.Bus.VerifyLogged(r); err != nil {
		// Only the orchestrator writes the saga log: a record it did not
		// sign tells subscribers nothing.
		s.log.Warn().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).
			Msg("webhook: skipped a saga log record the orchestrator did not write")
		return nil
	}
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		// The orchestrator dead-letters what it cannot read; a record
		// that is no saga event creates no delivery.
		s.log.Warn().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).
			Msg("webhook: skipped a record that is not a saga event")
		return nil
	}
	switch e.Type {
	case events.SagaStarted:
		var p events.SagaStartedV1
		if json.Unmarshal(e.Payload, &p) == nil {
			t.start(e.SagaID, p.Definition)
		}
		return nil
	case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
	default:
		return nil
	}
	// A failed saga may be resumed and end again: its definition is kept.
	def := t.defs[e.SagaID]
	if e.Type != events.SagaFailed {
		t.end(e.SagaID)
	}
	if r.Offset < stored[r.Partition] {
		return nil
	}
	ev := eventOf(e, def)
	if ev == nil {
		return nil
	}
	return s.store.record(ctx, topic, r.Partition, r.Offset+1, ev)
}

// eventOf is the webhook event of a saga's end, if it has one.
func eventOf(e events.Envelope, definition string) *pendingEvent {
	var typ, status string
	switch {
	case definition == "book-ticket" && e.Type == events.SagaCompleted:
		typ, status = BookingCompleted, "completed"
	case definition == "book-ticket" && e.Type == events.SagaCompensated:
		typ, status = BookingCompensated, "compensated"
	case definition == "book-ticket" && e.Type == events.SagaFailed:
		typ, status = BookingFailed, "failed"
	case definition == "cancel-booking" && e.Type == events.SagaCompleted:
		typ, status = BookingCancelled, "cancelled"
	default:
		return nil
	}
	var end events.SagaEndedV1
	_ = json.Unmarshal(e.Payload, &end)
	body, _ := json.Marshal(map[string]any{
		"type":      typ,
		"timestamp": e.OccurredAt.UTC().Format(time.RFC3339Nano),
		"data": map[string]string{"booking_ref": e.CorrelationID, "saga_id": e.SagaID, "definition": definition,
			"status": status, "reason": end.Reason},
	})
	return &pendingEvent{id: e.ID, bookingRef: e.CorrelationID, eventType: typ, payload: body}
}

// dispatch starts an attempt for every due delivery it has room for.
func (s *Sender) dispatch(ctx context.Context) error {
	due, err := s.store.due(ctx, s.now(), 4*s.cfg.Workers)
	if err != nil {
		return err
	}
	for _, d := range due {
		s.mu.Lock()
		busy := s.inFlight[d.ID] || s.perSub[d.SubscriptionID] >= s.cfg.PerEndpoint || len(s.inFlight) >= s.cfg.Workers
		if !busy {
			s.inFlight[d.ID] = true
			s.perSub[d.SubscriptionID]++
		}
		s.mu.Unlock()
		if busy {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.attempt(ctx, d)
			s.mu.Lock()
			delete(s.inFlight, d.ID)
			s.perSub[d.SubscriptionID]--
			s.mu.Unlock()
		}()
	}
	return nil
}

// attempt sends a delivery once and records how it went.
func (s *Sender) attempt(ctx context.Context, d Delivery) {
	code, err := s.send(ctx, d)
	if ctx.Err() != nil {
		return // stopping: the attempt is made again after the restart
	}
	if err == nil {
		s.cfg.Bus.Metrics.WebhookDelivery(metrics.WebhookDelivered)
		if err := s.store.outcome(ctx, d, StatusDelivered, s.now(), code, ""); err != nil {
			s.log.Warn().Err(err).Str("delivery", d.ID).Msg("webhook: recording a delivery failed")
		}
		return
	}
	next := s.now().Add(s.backoff(d.Attempts + 1))
	status, outcome := StatusPending, metrics.WebhookFailed
	if next.Sub(d.firstAt) > s.cfg.Horizon {
		status, outcome = StatusParked, metrics.WebhookParked
	}
	s.cfg.Bus.Metrics.WebhookDelivery(outcome)
	s.log.Warn().Err(err).Str("delivery", d.ID).Str("webhook", d.SubscriptionID).Int("attempt", d.Attempts+1).
		Str("status", status).Msg("webhook delivery failed")
	if err := s.store.outcome(ctx, d, status, next, code, err.Error()); err != nil {
		s.log.Warn().Err(err).Str("delivery", d.ID).Msg("webhook: recording a delivery failed")
	}
}

// backoff is the wait before attempt n+1: exponential, capped, with
// jitter in its upper half so that endpoints recovering together are not
// hit together.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

func (s *Sender) send(ctx context.Context, d Delivery) (int, error) {
	if err := s.cfg.Guard.Check(d.url); err != nil {
		return 0, err
	}
	ts := s.now().Unix()
	sig, err := Sign(d.secret, d.ID, ts, d.Payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "saga-webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("endpoint answered %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
