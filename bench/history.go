package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/system"
)

// HistorySpec says what saga log SeedHistory writes.
type HistorySpec struct {
	// Events is the least number of saga log events of ended sagas: whole
	// book-ticket sagas are written until there are at least this many
	// (12 events a completed saga, 10 a compensated one).
	Events int
	// Running is how many sagas are left running: started, with the
	// command of their first step in flight.
	Running int
	// CompensatedEvery makes every n-th ended saga a compensated one (its
	// payment is refused, its seats released). 0 means every tenth;
	// negative means none.
	CompensatedEvery int
	// Now is the clock the machine decides at; time.Now when zero.
	Now time.Time
	// StepTimeout is the deadline of each step attempt from Now; 24h when
	// zero, so that no running saga times out while it is measured.
	StepTimeout time.Duration
	// Prefix starts every idempotency key; a fresh random one when empty,
	// so that seeding a namespace twice adds new sagas.
	Prefix string
}

func (s *HistorySpec) setDefaults() {
	if s.CompensatedEvery == 0 {
		s.CompensatedEvery = 10
	}
	if s.Now.IsZero() {
		s.Now = time.Now()
	}
	if s.StepTimeout <= 0 {
		s.StepTimeout = 24 * time.Hour
	}
	if s.Prefix == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		s.Prefix = "hist-" + hex.EncodeToString(b[:])
	}
}

// compensated reports whether ended saga i is one that is compensated.
func (s HistorySpec) compensated(i int) bool {
	return s.CompensatedEvery > 0 && i%s.CompensatedEvery == s.CompensatedEvery-1
}

// Events a completed and a compensated book-ticket saga write.
const (
	bookCompletedEvents   = 12
	bookCompensatedEvents = 10
)

// endedSagas is how many ended sagas write at least spec.Events events.
func (s HistorySpec) endedSagas() (sagas, evs int) {
	for evs < s.Events {
		if s.compensated(sagas) {
			evs += bookCompensatedEvents
		} else {
			evs += bookCompletedEvents
		}
		sagas++
	}
	return sagas, evs
}

// EndedEvents is the Events of a HistorySpec (with the default share of
// compensated sagas) that writes exactly sagas ended sagas.
func EndedEvents(sagas int) int {
	n := 0
	s := HistorySpec{CompensatedEvery: 10}
	for i := range sagas {
		if s.compensated(i) {
			n += bookCompensatedEvents
		} else {
			n += bookCompletedEvents
		}
	}
	return n
}

// HistoryResult is what SeedHistory wrote.
type HistoryResult struct {
	// Events is every saga log record written; EndedEvents those of the
	// ended sagas, RunningEvents those of the running ones.
	Events        int `json:"events"`
	EndedEvents   int `json:"ended_events"`
	RunningEvents int `json:"running_events"`
	EndedSagas    int `json:"ended_sagas"`
	Completed     int `json:"completed_sagas"`
	Compensated   int `json:"compensated_sagas"`
	RunningSagas  int `json:"running_sagas"`
	// Bytes is the size of the records' keys, values and headers.
	Bytes      int64         `json:"bytes"`
	Partitions int32         `json:"partitions"`
	Took       time.Duration `json:"took_ns"`
	Prefix     string        `json:"prefix"`
}

// SeedHistory provisions the topics of cfg's namespace and appends to its
// saga log the history spec asks for. Every event is one the orchestrator
// itself would have written: book-ticket sagas are run through the pure
// machine (Decide with a start request, then the participants' replies),
// and each event is turned into a record by the same envelope and Kafka
// mapping as the orchestrator's publisher, keyed by saga id, so it lands
// on the partition the orchestrator reads that saga from. Generation runs
// on every CPU, pipelined with an asynchronous producer.
func SeedHistory(ctx context.Context, cfg bus.Config, spec HistorySpec) (HistoryResult, error) {
	began := time.Now()
	spec.setDefaults()
	if spec.Events < 0 || spec.Running < 0 {
		return HistoryResult{}, fmt.Errorf("bench: history of %d events and %d running sagas", spec.Events, spec.Running)
	}
	res := HistoryResult{Prefix: spec.Prefix}
	if err := system.Provision(ctx, cfg); err != nil {
		return res, fmt.Errorf("bench: provision: %w", err)
	}
	topic := cfg.Topic(events.TopicSagaLog)
	n, err := bus.PartitionCount(ctx, cfg, topic)
	if err != nil {
		return res, err
	}
	res.Partitions = n
	// The history is the orchestrator's, signed as it would be.
	marshaler := bus.MarshalerFor(as(cfg, events.PrincipalOrchestrator))

	timings := flows.DefaultTimings()
	timings.StepTimeout = spec.StepTimeout
	defs, err := flows.AllWith(timings)
	if err != nil {
		return res, err
	}
	gen := historyGen{m: saga.NewMachine(defs), spec: spec}

	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		return res, err
	}
	// Seeding is bulk: large batches, a little linger, a deep queue. The
	// partitioner and the record layout stay the orchestrator's.
	conf.Producer.Return.Successes = false
	conf.Producer.Return.Errors = true
	conf.Producer.Flush.Bytes = 512 << 10
	conf.Producer.Flush.Frequency = 5 * time.Millisecond
	conf.ChannelBufferSize = 8192
	prod, err := sarama.NewAsyncProducer(cfg.Brokers, conf)
	if err != nil {
		return res, fmt.Errorf("bench: seed producer: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var prodErrs atomic.Int64
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for pe := range prod.Errors() {
			if prodErrs.Add(1) == 1 {
				cancel(fmt.Errorf("bench: append to %s: %w", topic, pe.Err))
			}
		}
	}()

	ended, _ := spec.endedSagas()
	total := ended + spec.Running
	var next, endedEvs, runningEvs, completed, compensated, runningSagas atomic.Int64
	var bytes atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				var evs []events.Envelope
				var err error
				if i < ended {
					evs, err = gen.ended(i)
				} else {
					evs, err = gen.running(i - ended)
				}
				if err != nil {
					cancel(err)
					return
				}
				for _, e := range evs {
					pm, err := marshaler.Marshal(topic, bus.ToMessage(e))
					if err != nil {
						cancel(err)
						return
					}
					bytes.Add(int64(historyRecordBytes(pm)))
					select {
					case prod.Input() <- pm:
					case <-ctx.Done():
						return
					}
				}
				if i < ended {
					endedEvs.Add(int64(len(evs)))
					if gen.spec.compensated(i) {
						compensated.Add(1)
					} else {
						completed.Add(1)
					}
				} else {
					runningEvs.Add(int64(len(evs)))
					runningSagas.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Close flushes what is queued; its errors arrive on Errors.
	prod.AsyncClose()
	<-drained

	res.EndedEvents, res.RunningEvents = int(endedEvs.Load()), int(runningEvs.Load())
	res.Events = res.EndedEvents + res.RunningEvents
	res.Completed, res.Compensated = int(completed.Load()), int(compensated.Load())
	res.EndedSagas = res.Completed + res.Compensated
	res.RunningSagas = int(runningSagas.Load())
	res.Bytes = bytes.Load()
	res.Took = time.Since(began)
	// The first failure, of generation or of the producer, cancelled ctx.
	if err := context.Cause(ctx); err != nil {
		return res, err
	}
	if n := prodErrs.Load(); n > 0 {
		return res, fmt.Errorf("bench: %d saga log records not appended", n)
	}
	return res, nil
}

func historyRecordBytes(pm *sarama.ProducerMessage) int {
	n := 0
	if pm.Key != nil {
		n += pm.Key.Length()
	}
	if pm.Value != nil {
		n += pm.Value.Length()
	}
	for _, h := range pm.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// historyGen runs book-ticket sagas through the machine.
type historyGen struct {
	m    saga.Machine
	spec HistorySpec
}

var historyUsers = [...]string{"alice", "bob", "carol"}

// start is the request a client posts for saga key (see client.Book).
func (g historyGen) start(key string, i int) saga.Start {
	sagaID := events.SagaIDFor(key)
	ref := events.BookingRefFor(sagaID)
	user := historyUsers[i%len(historyUsers)]
	data, _ := json.Marshal(events.BookingData{BookingRef: ref, UserID: user, ShowID: "show-1", Seats: 1 + i%4, PaymentToken: "tok_visa"})
	p := events.StartSagaV1{Definition: flows.BookTicket, IdempotencyKey: key, BookingRef: ref, Data: data}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: user}, sagaID, g.spec.Now)
	return saga.Start{Request: req, Payload: p}
}

// running starts running saga j: SagaStarted and the first StepStarted.
func (g historyGen) running(j int) ([]events.Envelope, error) {
	s, evs, err := g.decide(saga.State{}, g.start(fmt.Sprintf("%s-r%d", g.spec.Prefix, j), j), g.spec.Now)
	if err != nil {
		return nil, err
	}
	if s.Status != saga.StatusRunning || len(evs) != 2 {
		return nil, fmt.Errorf("bench: running saga %d: %s after %d events", j, s.Status, len(evs))
	}
	return evs, nil
}

// ended runs ended saga i to its end: every command answered at once,
// successfully, except the payment of a compensated saga, which is refused.
func (g historyGen) ended(i int) ([]events.Envelope, error) {
	now := g.spec.Now
	s, log, err := g.decide(saga.State{}, g.start(fmt.Sprintf("%s-e%d", g.spec.Prefix, i), i), now)
	if err != nil {
		return nil, err
	}
	refuse := g.spec.compensated(i)
	for range 32 {
		if s.Status.Terminal() {
			break
		}
		now = now.Add(10 * time.Millisecond)
		r, err := g.reply(s, refuse, i, now)
		if err != nil {
			return nil, err
		}
		var evs []events.Envelope
		if s, evs, err = g.decide(s, r, now); err != nil {
			return nil, err
		}
		log = append(log, evs...)
	}
	want := saga.StatusCompleted
	if refuse {
		want = saga.StatusCompensated
	}
	if s.Status != want {
		return nil, fmt.Errorf("bench: ended saga %d is %s, want %s", i, s.Status, want)
	}
	return log, nil
}

// decide runs one input through Decide and applies what it emits, as the
// orchestrator does.
func (g historyGen) decide(s saga.State, in saga.Input, now time.Time) (saga.State, []events.Envelope, error) {
	evs, err := g.m.Decide(s, in, now)
	if err != nil {
		return s, nil, err
	}
	for _, e := range evs {
		if s, err = g.m.Apply(s, e); err != nil {
			return s, nil, err
		}
	}
	return s, evs, nil
}

// reply is a participant's answer to the command s awaits, with the data
// the shipped participants add.
func (g historyGen) reply(s saga.State, refuse bool, i int, at time.Time) (saga.Reply, error) {
	def, _ := g.m.Definition(s.Definition)
	for k, st := range s.Steps {
		if st.CommandID == "" {
			continue
		}
		step := def.Steps[k]
		p := events.StepReplyV1{CommandID: st.CommandID, Command: step.Command, Outcome: events.OutcomeSucceeded}
		amount := int64(1+i%4) * 2500
		switch {
		case st.Status == saga.StepCompensating:
			p.Command = step.Compensation
		case step.Command == events.ChargePayment && refuse:
			p.Outcome, p.Reason = events.OutcomeFailed, "card declined"
		case step.Command == events.ReserveSeats:
			p.Data = json.RawMessage(fmt.Sprintf(`{"amount_cents":%d}`, amount))
		case step.Command == events.ChargePayment:
			p.Data = json.RawMessage(fmt.Sprintf(`{"charge_id":"ch-%s","amount_cents":%d}`, s.SagaID[:8], amount))
		}
		env := events.MustNew(events.DerivedID(st.CommandID, "reply:"+p.Outcome), events.StepReply, p,
			events.Trace{SagaID: s.SagaID, CorrelationID: s.BookingRef, CausationID: st.CommandID, Actor: s.Actor}, s.SagaID, at)
		return saga.Reply{Envelope: env, Payload: p}, nil
	}
	return saga.Reply{}, errors.New("bench: no command in flight in a saga that has not ended")
}
