// Package participanttest is the test harness every participant service's
// tests share. It drives a service the way the runtime does, behind the
// runtime's service.Once, without Kafka: build the command the
// orchestrator would send, handle it, check the answer's identity and
// trace, apply it, and check that folding the log from scratch gives the
// live state (the service is event-sourced, so its state is nothing but
// its log). A repeated command id gets the original answer, as from the
// runtime; malformed commands and foreign events must be refused without
// a change.
package participanttest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

// T0 is the time the commands are sent at.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Cmd names one command attempt of a saga step.
type Cmd struct {
	Type       events.Type
	Saga, Step string
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
		c.Step = string(c.Type)
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

// Payload checks ev as CheckAnswer does and that it answers cmd, and
// returns its payload decoded through the registry as P, which must be
// the type registered for ev's type.
func Payload[P events.Validator](t testing.TB, cmd, ev events.Envelope) P {
	t.Helper()
	CheckAnswer(t, cmd, ev)
	_, p, err := events.CheckAs[P](ev)
	if err != nil {
		t.Fatalf("%s: %v", ev.Type, err)
	}
	if h, err := service.HandledOf(ev); err != nil || h.CommandID != cmd.ID {
		t.Fatalf("%s answers command %q, want %q (%v)", ev.Type, h.CommandID, cmd.ID, err)
	}
	return p
}
