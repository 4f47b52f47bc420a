package service

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
)

// Once applies each command of a Service at most once: it is the one place
// a participant is idempotent, so that a service need not remember command
// ids. It keeps the reply given to every command id the service's log
// answers: a command id seen before gets that reply again and changes
// nothing, and an event of a command already applied (a retried append
// wrote it twice) is not folded again. The runtime keeps one Once per
// partition it owns; tests drive one the same way, without Kafka.
//
// A Once is not safe for concurrent use: its caller serialises calls, as
// the runtime does per partition.
type Once struct {
	svc     Service
	handled map[string]events.Handled
}

// NewOnce puts svc, as it starts (before any event), behind a Once.
func NewOnce(svc Service) *Once {
	return &Once{svc: svc, handled: map[string]events.Handled{}}
}

// Service is the service behind o.
func (o *Once) Service() Service { return o.svc }

// Answer is what Once.Handle decided for a command.
type Answer struct {
	// Event is the new domain event: append it, then Apply it. It is empty
	// when Repeat or Dropped.
	Event events.Envelope
	// Reply is the answer to send: for a Repeat, the original one.
	Reply events.Handled
	// Repeat is set when the command id was answered before: nothing is
	// written, the reply is sent again.
	Repeat bool
	// Dropped is set when the service dropped the command on purpose: no
	// event and no reply.
	Dropped bool
}

// Handle decides what cmd does without changing state: the original reply
// for a command id seen before, or the service's new event and its reply.
func (o *Once) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (Answer, error) {
	if h, ok := o.handled[cmd.ID]; ok {
		return Answer{Reply: h, Repeat: true}, nil
	}
	ev, ok, err := o.svc.Handle(cmd, p, now)
	if err != nil {
		return Answer{}, err
	}
	if !ok {
		return Answer{Dropped: true}, nil
	}
	h, err := HandledOf(ev)
	if err != nil {
		return Answer{}, fmt.Errorf("%s produced %s without its outcome: %w", o.svc.Name(), ev.Type, err)
	}
	if h.CommandID != cmd.ID {
		// Folded back, it would answer another command id than this one.
		return Answer{}, fmt.Errorf("%s answered command %s with %s of command %q", o.svc.Name(), cmd.ID, ev.Type, h.CommandID)
	}
	return Answer{Event: ev, Reply: h}, nil
}

// Apply folds one event of the service's own log, whether read back at
// start or just written, unless an event of its command was folded
// already; it reports whether it folded e.
func (o *Once) Apply(e events.Envelope) (bool, error) {
	h, err := HandledOf(e)
	if err != nil {
		return false, fmt.Errorf("%s without its command: %w", e.Type, err)
	}
	if _, dup := o.handled[h.CommandID]; dup {
		return false, nil
	}
	if err := o.svc.Apply(e); err != nil {
		return false, err
	}
	o.handled[h.CommandID] = h
	return true, nil
}

// Seen returns the reply given to command id, if its event was folded.
func (o *Once) Seen(id string) (events.Handled, bool) {
	h, ok := o.handled[id]
	return h, ok
}

// HandledOf reads the command and reply every domain event embeds.
func HandledOf(e events.Envelope) (events.Handled, error) {
	var h events.Handled
	if err := json.Unmarshal(e.Payload, &h); err != nil {
		return h, events.Malformed("%s payload: %v", e.Type, err)
	}
	if err := h.Validate(); err != nil {
		return h, events.Malformed("%s: %v", e.Type, err)
	}
	return h, nil
}
