// Package participanttest drives a participant service in tests the way
// the runtime does, without Kafka: build the command the orchestrator
// would send, handle it, check the answer's identity and trace, apply it,
// and check that folding the log from scratch gives the live state (the
// service is event-sourced, so its state is nothing but its log).
package participanttest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

// T0 is the time the commands are sent at.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Cmd names one command attempt of a saga step.
type Cmd struct {
	Type, Saga, Step string
	// Attempt is 1 when zero; Step is Type when empty.
	Attempt int
	Comp    bool
	// Data is the saga's data, marshalled into the command.
	Data any
	// Actor, Correlation and Key are the envelope's trace and Kafka key.
	Actor, Correlation, Key string
}

// Command makes the command envelope and payload the orchestrator would
// send for c.
func Command(t testing.TB, c Cmd) (events.Envelope, events.CommandV1) {
	t.Helper()
	raw, err := json.Marshal(c.Data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Step == "" {
		c.Step = c.Type
	}
	if c.Attempt == 0 {
		c.Attempt = 1
	}
	p := events.CommandV1{Step: c.Step, Attempt: c.Attempt, Compensation: c.Comp, Data: raw}
	env, err := events.New(events.CommandID(c.Saga, c.Step, c.Comp, c.Attempt), c.Type, p,
		events.Trace{SagaID: c.Saga, CorrelationID: c.Correlation, Actor: c.Actor}, c.Key, T0)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

// CheckAnswer checks what every answer to cmd must carry: it validates,
// its id is derived from the command's (so a redelivery gives the same
// event), and it carries the command's trace, caused by it.
func CheckAnswer(t testing.TB, cmd, ev events.Envelope) {
	t.Helper()
	if _, err := events.Check(ev); err != nil {
		t.Fatalf("event does not validate: %v", err)
	}
	want := events.TraceOf(cmd)
	if ev.ID != events.DerivedID(cmd.ID, "event") || ev.SagaID != want.SagaID ||
		ev.CorrelationID != want.CorrelationID || ev.CausationID != cmd.ID || ev.Actor != want.Actor {
		t.Fatalf("event identity/trace wrong: %+v", ev)
	}
}

// Harness drives a service as the runtime does, behind the runtime's
// service.Once, and keeps its log.
type Harness[S service.Service] struct {
	T   testing.TB
	Svc S
	// Once is Svc behind the runtime's idempotency.
	Once *service.Once
	Log  []events.Envelope
	// New makes the service as it starts, before any event.
	New func() S
	// Every is how often the log is refolded to compare with the live
	// state (1: after every command); long runs check less often.
	Every int
	// Tick is how far apart the commands are handled.
	Tick time.Duration
}

// New starts a harness on a fresh service made by newSvc.
func New[S service.Service](t testing.TB, newSvc func() S) *Harness[S] {
	svc := newSvc()
	return &Harness[S]{T: t, Svc: svc, Once: service.NewOnce(svc), New: newSvc, Every: 1, Tick: time.Second}
}

// Fold rebuilds a service from scratch out of log, as the runtime does at
// start: one event per command id.
func (h *Harness[S]) Fold(log []events.Envelope) S {
	h.T.Helper()
	s := h.New()
	once := service.NewOnce(s)
	for _, e := range log {
		if _, err := once.Apply(e); err != nil {
			h.T.Fatalf("fold %s: %v", e.Type, err)
		}
	}
	return s
}

// Run handles cmd, which must be answered, and applies the answer; see Try.
func (h *Harness[S]) Run(cmd events.Envelope, p events.CommandV1) events.Envelope {
	h.T.Helper()
	ev, ok := h.Try(cmd, p)
	if !ok {
		h.T.Fatalf("%s %s: dropped", cmd.Type, cmd.ID)
	}
	return ev
}

// Try handles cmd as the runtime does and applies its answer, if it has
// one, checking that Handle changed nothing, that the answer passes
// CheckAnswer, and that folding the log from scratch gives the live
// state. A command id answered before gets the event that answered it,
// and nothing is written or applied again. ok=false means the service
// dropped the command: no event, and nothing changed.
func (h *Harness[S]) Try(cmd events.Envelope, p events.CommandV1) (events.Envelope, bool) {
	h.T.Helper()
	a, err := h.Once.Handle(cmd, p, T0.Add(time.Duration(len(h.Log))*h.Tick))
	if err != nil {
		h.T.Fatalf("%s %s: %v", cmd.Type, cmd.ID, err)
	}
	strict := h.Every <= 1 || len(h.Log)%h.Every == 0
	if strict && !reflect.DeepEqual(h.Svc, h.Fold(h.Log)) {
		h.T.Fatalf("%s: Handle changed state", cmd.Type)
	}
	switch {
	case a.Dropped:
		return events.Envelope{}, false
	case a.Repeat:
		return h.original(cmd, a.Reply), true
	}
	ev := a.Event
	CheckAnswer(h.T, cmd, ev)
	if folded, err := h.Once.Apply(ev); err != nil || !folded {
		h.T.Fatalf("apply %s: folded=%v err=%v", ev.Type, folded, err)
	}
	h.Log = append(h.Log, ev)
	if strict && !reflect.DeepEqual(h.Svc, h.Fold(h.Log)) {
		h.T.Fatalf("%s: folding the log does not rebuild the live state", cmd.Type)
	}
	return ev, true
}

// original is the logged event that answered cmd, which reply repeats.
func (h *Harness[S]) original(cmd events.Envelope, reply events.Handled) events.Envelope {
	h.T.Helper()
	for _, e := range h.Log {
		if was, err := service.HandledOf(e); err == nil && was.CommandID == cmd.ID {
			if !reflect.DeepEqual(was, reply) {
				h.T.Fatalf("%s: repeated reply %+v, the log answered %+v", cmd.Type, reply, was)
			}
			return e
		}
	}
	h.T.Fatalf("%s %s: answered as a repeat, but no event of it is in the log", cmd.Type, cmd.ID)
	return events.Envelope{}
}
