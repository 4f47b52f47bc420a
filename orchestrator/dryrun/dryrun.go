// Package dryrun replays what past sagas were given (their requests, the
// participants' replies, the passing of time) through another version of
// their definition, with the pure state machine, and says for each saga
// whether that version would have decided as the recorded one did, and
// where it would first have decided otherwise. It writes nothing.
package dryrun

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Report is one saga's dry run.
type Report struct {
	SagaID     string    `json:"saga_id"`
	BookingRef string    `json:"booking_ref"`
	Version    string    `json:"recorded_version,omitempty"`
	Status     string    `json:"recorded_status"`
	StartedAt  time.Time `json:"started_at"`
	// Decisions is how many recorded decisions were replayed.
	Decisions int `json:"decisions"`
	// Diverged is the first decision the new version makes otherwise;
	// nil when it decides as recorded throughout.
	Diverged *Divergence `json:"diverged,omitempty"`
}

// Divergence is where a replay first decides otherwise than the log.
type Divergence struct {
	// Decision counts from 1: the start is decision 1.
	Decision int       `json:"decision"`
	At       time.Time `json:"at"`
	Input    string    `json:"input"`
	Recorded []string  `json:"recorded"`
	Replayed []string  `json:"replayed"`
	Error    string    `json:"error,omitempty"`
}

// Replies finds a recorded reply by its envelope id.
type Replies func(id string) (saga.Reply, bool)

// decision is a recorded decision: the events one input caused.
type decision struct {
	cause  string
	at     time.Time
	events []events.Envelope
}

// Run replays one saga's log (its events in order) through m, whose
// current definition of the saga's name is the version under test.
func Run(m saga.Machine, log []events.Envelope, replies Replies) Report {
	if len(log) == 0 {
		return Report{}
	}
	first := log[0]
	r := Report{SagaID: first.SagaID, BookingRef: first.CorrelationID, StartedAt: first.OccurredAt}
	if p, err := events.Decode[events.SagaStartedV1](first); err == nil {
		r.Version = p.DefinitionVersion
	}
	var s saga.State
	for i, d := range groups(log) {
		r.Decisions = i + 1
		in, what, err := inputOf(s, d, i == 0, replies)
		if err != nil {
			r.Diverged = &Divergence{Decision: i + 1, At: d.at, Input: what, Recorded: summary(d.events), Error: err.Error()}
			break
		}
		div, next := replay(m, s, in, d, what)
		if div != nil {
			div.Decision = i + 1
			r.Diverged = div
			break
		}
		s = next
	}
	r.Status = statusOf(log)
	return r
}

func statusOf(log []events.Envelope) string {
	status := "running"
	for _, e := range log {
		switch e.Type {
		case events.SagaCompleted:
			status = "completed"
		case events.SagaCompensated:
			status = "compensated"
		case events.SagaFailed:
			status = "failed"
		case events.SagaResumed:
			status = "compensating"
		}
	}
	return status
}

// replay decides on one recorded input as the log says it was given: time
// first passes to its moment (a tick then), then the input acts.
func replay(m saga.Machine, s saga.State, in saga.Input, d decision, what string) (*Divergence, saga.State) {
	if _, isTick := in.(saga.Tick); !isTick && s.Started() {
		early, err := m.Next(s, saga.Tick{}, d.at)
		if err != nil {
			return &Divergence{At: d.at, Input: "time passing, before " + what, Recorded: summary(d.events), Error: err.Error()}, s
		}
		if len(early.Events) > 0 {
			return &Divergence{At: d.at, Input: "time passing, before " + what, Recorded: []string{"(nothing)"}, Replayed: summary(early.Events)}, s
		}
	}
	got, err := m.Next(s, in, d.at)
	if err != nil {
		return &Divergence{At: d.at, Input: what, Recorded: summary(d.events), Replayed: []string{"(refused)"}, Error: err.Error()}, s
	}
	rec, rep := summary(d.events), summary(got.Events)
	if !slices.Equal(rec, rep) {
		return &Divergence{At: d.at, Input: what, Recorded: rec, Replayed: rep}, s
	}
	return nil, got.State
}

// groups splits a saga's log into its decisions: the events of one
// decision carry the same causation id.
func groups(log []events.Envelope) []decision {
	var out []decision
	for _, e := range log {
		if n := len(out); n > 0 && out[n-1].cause == e.CausationID {
			out[n-1].events = append(out[n-1].events, e)
			continue
		}
		out = append(out, decision{cause: e.CausationID, at: e.OccurredAt, events: []events.Envelope{e}})
	}
	return out
}

// inputOf is the input that caused a recorded decision: the start request
// (rebuilt from SagaStarted, which holds it), an operator's resume, a
// participant's reply (read back from the replies' log), or a tick.
func inputOf(s saga.State, d decision, first bool, replies Replies) (saga.Input, string, error) {
	e := d.events[0]
	switch {
	case first:
		p, err := events.Decode[events.SagaStartedV1](e)
		if err != nil {
			return nil, "the start", err
		}
		start := events.StartSagaV1{Definition: p.Definition, IdempotencyKey: p.IdempotencyKey, BookingRef: p.BookingRef, Data: p.Data}
		req := events.MustNew(e.CausationID, events.StartSaga, start,
			events.Trace{SagaID: e.SagaID, CorrelationID: p.BookingRef, Actor: e.Actor}, e.SagaID, e.OccurredAt)
		return saga.Start{Request: req, Payload: start}, "the start request", nil
	case e.Type == events.SagaResumed:
		p, err := events.Decode[events.SagaEndedV1](e)
		if err != nil {
			return nil, "a resume", err
		}
		req := events.MustNew(e.CausationID, events.ResumeSaga, events.ResumeSagaV1(p),
			events.Trace{SagaID: e.SagaID, CorrelationID: e.CorrelationID, Actor: e.Actor}, e.SagaID, e.OccurredAt)
		return saga.Resume{Request: req, Reason: p.Reason}, "an operator's resume", nil
	case e.CausationID == events.SagaEventID(s.SagaID, s.Seq):
		return saga.Tick{}, "time passing (a deadline or a retry)", nil
	}
	r, ok := replies(e.CausationID)
	if !ok {
		return nil, "a reply", fmt.Errorf("the reply %s that caused it is not in the replies' log", e.CausationID)
	}
	what := fmt.Sprintf("a reply %s to %s", r.Payload.Outcome, r.Payload.Command)
	return r, what, nil
}

// summary names each event by what it decides: type, step and attempt.
func summary(es []events.Envelope) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		var p struct {
			Step    string `json:"step"`
			Attempt int    `json:"attempt"`
			Command string `json:"command"`
			Reason  string `json:"reason"`
		}
		_ = json.Unmarshal(e.Payload, &p)
		b := strings.Builder{}
		b.WriteString(string(e.Type))
		if p.Step != "" {
			fmt.Fprintf(&b, " %s#%d", p.Step, p.Attempt)
		}
		if p.Command != "" {
			fmt.Fprintf(&b, " (%s)", p.Command)
		}
		out = append(out, b.String())
	}
	return out
}
