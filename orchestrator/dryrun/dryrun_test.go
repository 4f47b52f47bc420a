package dryrun_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/dryrun"
	"github.com/sagaflow/saga/orchestrator/saga"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const base = `
name: pair
required: [user_id]
timeout: 10s
retry: {max_attempts: 2, backoff: 1s}
steps:
  - {name: Reserve, service: booking, command: ReserveSeats, compensation: ReleaseSeats}
  - {name: Charge, service: payment, command: ChargePayment, compensation: RefundPayment}
  - {name: Confirm, service: booking, command: ConfirmBooking, pivot: true}
`

func compile(t *testing.T, raw string) saga.Definition {
	t.Helper()
	s, err := definition.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// recorded runs a saga on def as the runtime would: each answer in turn
// ("ok", "fail", or "late": no answer until the deadline), and returns its
// log and the replies it was given.
func recorded(t *testing.T, def saga.Definition, key string, answers ...string) ([]events.Envelope, map[string]saga.Reply) {
	t.Helper()
	m := saga.NewMachine(saga.Definitions{def.Name: def})
	now := t0
	p := events.StartSagaV1{Definition: def.Name, IdempotencyKey: key, BookingRef: "BK-" + key, Data: []byte(`{"user_id":"u"}`)}
	sagaID := events.SagaIDFor(key)
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p, events.Trace{SagaID: sagaID, CorrelationID: p.BookingRef, Actor: "u"}, sagaID, now)
	d, err := m.Next(saga.State{}, saga.Start{Request: req, Payload: p}, now)
	if err != nil {
		t.Fatal(err)
	}
	log, s, replies := d.Events, d.State, map[string]saga.Reply{}
	for i, a := range answers {
		now = now.Add(100 * time.Millisecond)
		var in saga.Input = saga.Tick{}
		if a == "late" {
			now = now.Add(time.Minute)
		} else {
			// A retry waits for its backoff: time passes until it starts.
			for len(m.InFlight(s, now)) == 0 {
				now = now.Add(time.Second)
				d, err := m.Next(s, saga.Tick{}, now)
				if err != nil {
					t.Fatal(err)
				}
				log, s = append(log, d.Events...), d.State
			}
			cmd := m.InFlight(s, now)[0]
			outcome := events.OutcomeSucceeded
			if a == "fail" {
				outcome = events.OutcomeFailed
			}
			rp := events.StepReplyV1{CommandID: cmd.Envelope.ID, Command: cmd.Envelope.Type, Outcome: outcome, Reason: a}
			env := events.MustNew(events.DerivedID(cmd.Envelope.ID, "reply:"+a), events.StepReply, rp,
				events.Trace{SagaID: sagaID, CorrelationID: p.BookingRef, CausationID: cmd.Envelope.ID}, sagaID, now)
			r := saga.Reply{Envelope: env, Payload: rp}
			replies[env.ID] = r
			in = r
		}
		d, err := m.Next(s, in, now)
		if err != nil {
			t.Fatalf("answer %d (%s): %v", i, a, err)
		}
		log, s = append(log, d.Events...), d.State
	}
	return log, replies
}

func run(def saga.Definition, log []events.Envelope, replies map[string]saga.Reply) dryrun.Report {
	m := saga.NewMachine(saga.Definitions{def.Name: def})
	return dryrun.Run(m, log, func(id string) (saga.Reply, bool) { r, ok := replies[id]; return r, ok })
}

func TestTheSameVersionDecidesAsRecorded(t *testing.T) {
	def := compile(t, base)
	for name, answers := range map[string][]string{
		"completed":          {"ok", "ok", "ok"},
		"compensated":        {"ok", "fail", "ok"},
		"a timeout, retried": {"ok", "late", "ok", "ok"},
		"timed out for good": {"late", "late", "ok"},
		"still in flight":    {"ok"},
		"only started":       {},
	} {
		log, replies := recorded(t, def, name, answers...)
		if r := run(def, log, replies); r.Diverged != nil || r.SagaID != events.SagaIDFor(name) || r.Decisions == 0 {
			t.Errorf("%s: %+v", name, r.Diverged)
		}
	}
}

func TestAnotherVersionSaysWhereItDecidesOtherwise(t *testing.T) {
	def := compile(t, base)
	tests := []struct {
		name     string
		edit     func(string) string
		answers  []string
		decision int
		input    string
		replayed string
	}{
		{"a step added after the first", func(s string) string {
			return strings.Replace(s, "  - {name: Charge", "  - {name: Notify, service: notification, command: SendNotification}\n  - {name: Charge", 1)
		}, []string{"ok", "ok", "ok"}, 2, "a reply succeeded to ReserveSeats", "StepStarted Notify#1 (SendNotification)"},
		{"fewer retries", func(s string) string { return strings.Replace(s, "max_attempts: 2", "max_attempts: 1", 1) },
			[]string{"ok", "late", "ok", "ok"}, 3, "time passing", "StepTimedOut Charge#1"},
		{"a shorter timeout", func(s string) string { return strings.Replace(s, "timeout: 10s", "timeout: 50ms", 1) },
			[]string{"ok", "ok", "ok"}, 2, "time passing, before a reply", "StepTimedOut Reserve#1"},
		{"a required field", func(s string) string { return strings.Replace(s, "[user_id]", "[user_id, nights]", 1) },
			[]string{"ok"}, 1, "the start request", "(refused)"},
	}
	for _, tc := range tests {
		log, replies := recorded(t, def, tc.name, tc.answers...)
		r := run(compile(t, tc.edit(base)), log, replies)
		d := r.Diverged
		if d == nil {
			t.Errorf("%s: decides as recorded", tc.name)
			continue
		}
		if d.Decision != tc.decision || !strings.HasPrefix(d.Input, tc.input) || !strings.Contains(strings.Join(d.Replayed, ", "), tc.replayed) {
			t.Errorf("%s: diverged at %d on %q, replayed %v; want %d on %q with %q", tc.name, d.Decision, d.Input, d.Replayed, tc.decision, tc.input, tc.replayed)
		}
	}
}

func TestAReplyMissingFromTheLogIsSaid(t *testing.T) {
	def := compile(t, base)
	log, _ := recorded(t, def, "k", "ok")
	r := run(def, log, nil)
	if r.Diverged == nil || !strings.Contains(r.Diverged.Error, "not in the replies' log") {
		t.Fatalf("%+v", r.Diverged)
	}
}
