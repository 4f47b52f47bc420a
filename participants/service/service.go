package service

import (
	"encoding/json"
	"time"

	"github.com/sagaflow/saga/events"
)

// Service is the domain logic of one participant, free of I/O. The runtime
// serialises calls, so implementations need no locks, and puts a Once in
// front, so they need not remember command ids either: Handle never sees
// a command id it answered before, and Apply never sees an event of a
// command it folded before.
type Service interface {
	// Name is the service name: it owns "<name>.commands" and "<name>.events".
	Name() string
	// Apply folds one of the service's own domain events into its state.
	// It is called for every event of the log at start and for every event
	// the service produces, after the event is durably written.
	Apply(e events.Envelope) error
	// Handle decides what a command does, as exactly one domain event whose
	// payload embeds events.Handled (the reply). It must not change state:
	// Apply does, once the event is written. It must decide the same event
	// from the same state and command, whenever it is called: now only
	// stamps the event. The runtime sends the reply in the same round as
	// the event, and a command whose event a crash lost is decided again.
	// A service that drops a command on purpose (a simulated outage)
	// returns ok=false.
	Handle(cmd events.Envelope, payload events.CommandV1, now time.Time) (ev events.Envelope, ok bool, err error)
}

// Data reads the saga data a command carries as T, after checking the
// command's shape. What cannot be read is malformed: no retry makes it
// readable, so the runtime sends the command to the DLQ.
func Data[T any](p events.CommandV1) (T, error) {
	var d T
	if err := p.Validate(); err != nil {
		return d, events.Malformed("command: %v", err)
	}
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return d, events.Malformed("command data: %v", err)
	}
	return d, nil
}
