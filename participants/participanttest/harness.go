package participanttest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

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

// CheckFold checks that folding the log from scratch gives the live state.
func (h *Harness[S]) CheckFold() {
	h.T.Helper()
	if !reflect.DeepEqual(h.Svc, h.Fold(h.Log)) {
		h.T.Fatalf("folding the log of %d events does not rebuild the live state", len(h.Log))
	}
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

// Refuses checks that cmd is refused as malformed (the runtime sends it to
// the DLQ): an error wrapping events.ErrMalformed, no event, no change.
func (h *Harness[S]) Refuses(cmd events.Envelope, p events.CommandV1) {
	h.T.Helper()
	a, err := h.Once.Handle(cmd, p, T0)
	if !errors.Is(err, events.ErrMalformed) || a.Event.ID != "" || a.Repeat || a.Dropped {
		h.T.Fatalf("%s: %+v err=%v, want a malformed error", cmd.Type, a, err)
	}
	if !reflect.DeepEqual(h.Svc, h.Fold(h.Log)) {
		h.T.Fatalf("%s: a malformed command changed state", cmd.Type)
	}
}

// RefusesEvent checks that the service refuses to fold e, an event it
// could not have written, as malformed, and that nothing changed.
func (h *Harness[S]) RefusesEvent(e events.Envelope) {
	h.T.Helper()
	if err := h.Svc.Apply(e); !errors.Is(err, events.ErrMalformed) {
		h.T.Fatalf("Apply(%s %s) = %v, want malformed", e.ID, e.Type, err)
	}
	if !reflect.DeepEqual(h.Svc, h.Fold(h.Log)) {
		h.T.Fatalf("Apply(%s %s): a refused event changed state", e.ID, e.Type)
	}
}
