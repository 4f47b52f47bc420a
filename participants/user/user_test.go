package user_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/user"
)

var t0 = participanttest.T0

// build makes a command the orchestrator would send for attempt n.
func build(t *testing.T, typ events.Type, userID string, n int) (events.Envelope, events.CommandV1) {
	t.Helper()
	return participanttest.Command(t, participanttest.Cmd{Type: typ, Saga: "saga-1", Attempt: n,
		Data:  events.BookingData{BookingRef: "BK-1", UserID: userID, ShowID: "show-1", Seats: 1},
		Actor: userID, Correlation: "BK-1", Key: "saga-1"})
}

// harness drives the user service the way the runtime does.
type harness struct {
	*participanttest.Harness[*user.Service]
}

func newHarness(t testing.TB) *harness {
	return &harness{participanttest.New(t, func() *user.Service { return user.New(demo.Catalog()) })}
}

// verify runs a VerifyUser command (participanttest.Harness.Run) and
// checks the answer's shape.
func (h *harness) verify(cmd events.Envelope, p events.CommandV1) (events.Envelope, events.UserCheckedV1) {
	t := h.T
	t.Helper()
	ev := h.Run(cmd, p)
	uc := participanttest.Payload[events.UserCheckedV1](t, cmd, ev)
	if ev.CorrelationID != "BK-1" || ev.Key != uc.UserID {
		t.Fatalf("identity/trace/key wrong: %+v %+v", ev, uc)
	}
	return ev, uc
}

func TestVerifyUser(t *testing.T) {
	tests := []struct {
		user                    string
		wantType                events.Type
		wantOutcome, wantReason string
	}{
		{"alice", events.UserVerified, events.OutcomeSucceeded, ""},
		{"bob", events.UserVerified, events.OutcomeSucceeded, ""},
		{"mallory", events.UserRejected, events.OutcomeFailed, `user "mallory" is blocked`},
		{"x", events.UserRejected, events.OutcomeFailed, `unknown user "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			h := newHarness(t)
			cmd, p := build(t, events.VerifyUser, tt.user, 1)
			ev, uc := h.verify(cmd, p)
			if !reflect.DeepEqual(h.Svc, user.New(demo.Catalog())) {
				t.Fatal("a verification changed state")
			}
			if ev.Type != tt.wantType || uc.Outcome != tt.wantOutcome || uc.Reason != tt.wantReason || uc.UserID != tt.user || uc.Reply != nil {
				t.Fatalf("got %s %+v", ev.Type, uc)
			}
			if h.Svc.Verified(tt.user) != (tt.wantOutcome == events.OutcomeSucceeded) {
				t.Fatal("Verified disagrees with the answer")
			}
		})
	}
}

// A redelivered command gets the very same event, even later; another
// attempt gets the same decision; the log folds into the live state.
func TestIdempotentAndFoldable(t *testing.T) {
	h := newHarness(t)
	cmd, p := build(t, events.VerifyUser, "mallory", 1)
	first := h.Run(cmd, p)
	if again := h.Run(cmd, p); !reflect.DeepEqual(first, again) || len(h.Log) != 1 {
		t.Fatalf("redelivery got %+v, log %d events", again, len(h.Log))
	}
	cmd2, p2 := build(t, events.VerifyUser, "mallory", 2)
	second := h.Run(cmd2, p2)
	if uc := events.MustDecode[events.UserCheckedV1](second); second.Type != events.UserRejected || uc.Reason != `user "mallory" is blocked` {
		t.Fatalf("attempt 2 got %s %q", second.Type, uc.Reason)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		typ  events.Type
		user string
		mod  func(*events.CommandV1)
	}{
		{"no user", events.VerifyUser, "", nil},
		{"other service's command", events.ReserveSeats, "alice", nil},
		{"data not an object", events.VerifyUser, "alice", func(p *events.CommandV1) { p.Data = json.RawMessage(`null`) }},
		{"user id of the wrong type", events.VerifyUser, "alice", func(p *events.CommandV1) { p.Data = json.RawMessage(`{"user_id":7}`) }},
		{"no step", events.VerifyUser, "alice", func(p *events.CommandV1) { p.Step = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, p := build(t, tt.typ, tt.user, 1)
			if tt.mod != nil {
				tt.mod(&p)
			}
			newHarness(t).Refuses(cmd, p)
		})
	}
	h := newHarness(t)
	h.RefusesEvent(events.MustNew("e", events.SeatsReserved, events.SeatsV1{}, events.Trace{}, "k", t0))
	if h.Svc.Name() != events.ServiceUser {
		t.Fatal("wrong name")
	}
}
