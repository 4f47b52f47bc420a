package user_test

import (
	"strings"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/user"
)

// userCmd is a user command of step step for d, the n-th of its saga.
func userCmd(t testing.TB, typ events.Type, step string, d events.UserData, n int) (events.Envelope, events.CommandV1) {
	t.Helper()
	sagaID := "saga-" + d.UserID + "-" + string(typ) + "-" + string(rune('a'+n))
	return participanttest.Command(t, participanttest.Cmd{Type: typ, Saga: sagaID, Step: step, Data: d,
		Actor: "anonymous", Correlation: d.UserID, Key: d.UserID})
}

// run handles and applies a command (participanttest.Harness.Run),
// returning the event's payload.
func (h *harness) run(typ events.Type, step string, d events.UserData, n int) events.UserChangedV1 {
	h.T.Helper()
	cmd, p := userCmd(h.T, typ, step, d, n)
	return participanttest.Payload[events.UserChangedV1](h.T, cmd, h.Run(cmd, p))
}

func TestUserCommands(t *testing.T) {
	dave := events.UserData{UserID: "dave", Name: "Dave", Phone: "+15555550199"}
	alice := user.Profile(demo.Users()["alice"])
	mallory := user.Profile(demo.Users()["mallory"])
	type cmd struct {
		typ         events.Type
		step        string
		d           events.UserData
		wantOutcome string
		wantReason  string
	}
	tests := []struct {
		name     string
		cmds     []cmd
		verified map[string]bool
	}{
		{"sign-up registers", []cmd{{events.RegisterUser, "RegisterUser", dave, events.OutcomeSucceeded, ""}},
			map[string]bool{"dave": true}},
		{"a taken id is refused", []cmd{
			{events.RegisterUser, "RegisterUser", dave, events.OutcomeSucceeded, ""},
			{events.RegisterUser, "RegisterUser", dave, events.OutcomeFailed, `user id "dave" is taken`}},
			map[string]bool{"dave": true}},
		{"a catalogue id is refused to a sign-up", []cmd{{events.RegisterUser, "RegisterUser", alice, events.OutcomeFailed, "taken"}},
			map[string]bool{"alice": true}},
		{"an invalid phone is refused", []cmd{{events.RegisterUser, "RegisterUser", events.UserData{UserID: "erin", Name: "E", Phone: "555"}, events.OutcomeFailed, "not a valid number"}},
			map[string]bool{"erin": false}},
		{"a sign-up cannot register itself blocked", []cmd{{events.RegisterUser, "RegisterUser", events.UserData{UserID: "zed", Name: "Z", Phone: "+15555550111", Blocked: true}, events.OutcomeSucceeded, ""}},
			map[string]bool{"zed": true}},
		{"the import of a catalogue user lands once", []cmd{
			{events.RegisterUser, events.StepImportUser, mallory, events.OutcomeSucceeded, ""},
			{events.RegisterUser, events.StepImportUser, mallory, events.OutcomeFailed, "taken"}},
			map[string]bool{"mallory": false}},
		{"an import with another profile is refused", []cmd{{events.RegisterUser, events.StepImportUser, events.UserData{UserID: "alice", Name: "Eve", Phone: "+15555550100"}, events.OutcomeFailed, "taken"}},
			map[string]bool{"alice": true}},
		{"removal undoes a sign-up", []cmd{
			{events.RegisterUser, "RegisterUser", dave, events.OutcomeSucceeded, ""},
			{events.RemoveUser, "RegisterUser", events.UserData{UserID: "dave"}, events.OutcomeSucceeded, ""}},
			map[string]bool{"dave": false}},
		{"removing nobody succeeds", []cmd{{events.RemoveUser, "RegisterUser", events.UserData{UserID: "nobody"}, events.OutcomeSucceeded, ""}}, nil},
		{"block and unblock", []cmd{
			{events.BlockUser, "BlockUser", events.UserData{UserID: "bob"}, events.OutcomeSucceeded, ""},
			{events.UnblockUser, "UnblockUser", events.UserData{UserID: "mallory"}, events.OutcomeSucceeded, ""}},
			map[string]bool{"bob": false, "mallory": true}},
		{"blocking nobody is refused", []cmd{{events.BlockUser, "BlockUser", events.UserData{UserID: "nobody"}, events.OutcomeFailed, `unknown user "nobody"`}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, c := range tt.cmds {
				got := h.run(c.typ, c.step, c.d, i)
				if got.Outcome != c.wantOutcome || !strings.Contains(got.Reason, c.wantReason) {
					t.Errorf("%s %s: %s %q, want %s %q", c.typ, c.d.UserID, got.Outcome, got.Reason, c.wantOutcome, c.wantReason)
				}
			}
			for id, want := range tt.verified {
				if h.Svc.Verified(id) != want {
					t.Errorf("Verified(%s) = %v, want %v", id, !want, want)
				}
			}
		})
	}
}

// TestUserStateFoldsFromTheLog: a service that folds the events another
// produced knows the same users, so a restart loses nothing.
func TestUserStateFoldsFromTheLog(t *testing.T) {
	h := newHarness(t)
	for i, c := range []struct {
		typ  events.Type
		step string
		d    events.UserData
	}{
		{events.RegisterUser, "RegisterUser", events.UserData{UserID: "dave", Name: "Dave", Phone: "+15555550199"}},
		{events.BlockUser, "BlockUser", events.UserData{UserID: "dave"}},
		{events.BlockUser, "BlockUser", events.UserData{UserID: "alice"}},
	} {
		h.run(c.typ, c.step, c.d, i)
	}
	s, again := h.Svc, h.Fold(h.Log)
	for _, id := range []string{"dave", "alice", "bob"} {
		if s.Verified(id) != again.Verified(id) {
			t.Errorf("%s: verified %v before, %v after the fold", id, s.Verified(id), again.Verified(id))
		}
	}
	if d, ok := again.User("dave"); !ok || !d.Blocked || d.Phone != "+15555550199" {
		t.Errorf("dave after the fold = %+v, %v", d, ok)
	}
}

func TestMalformedUserCommands(t *testing.T) {
	h := newHarness(t)
	for _, d := range []events.UserData{{UserID: ""}, {UserID: "Bad Id"}} {
		h.Refuses(userCmd(t, events.RegisterUser, "RegisterUser", d, 0))
	}
}

// A step sent again after a timeout comes under a new command id: the
// registration the first attempt logged is the one this saga asked for,
// so the second attempt succeeds too (a refusal would compensate a
// sign-up by removing the user it registered, or fail an import). Another
// saga asking for the same id is still refused.
func TestRegistrationRetriedBySameSaga(t *testing.T) {
	dave := events.UserData{UserID: "dave", Name: "Dave", Phone: "+15555550199"}
	mallory := user.Profile(demo.Users()["mallory"])
	for _, tt := range []struct {
		step string
		d    events.UserData
	}{{"RegisterUser", dave}, {events.StepImportUser, mallory}} {
		t.Run(tt.step, func(t *testing.T) {
			h := newHarness(t)
			for attempt := 1; attempt <= 2; attempt++ {
				cmd, p := participanttest.Command(t, participanttest.Cmd{Type: events.RegisterUser, Saga: "saga-1", Step: tt.step,
					Attempt: attempt, Data: tt.d, Actor: "anonymous", Correlation: tt.d.UserID, Key: tt.d.UserID})
				if got := participanttest.Payload[events.UserChangedV1](t, cmd, h.Run(cmd, p)); got.Outcome != events.OutcomeSucceeded {
					t.Fatalf("attempt %d of the same saga: %s %q", attempt, got.Outcome, got.Reason)
				}
			}
			if got := h.run(events.RegisterUser, tt.step, tt.d, 7); got.Outcome != events.OutcomeFailed || !strings.Contains(got.Reason, "taken") {
				t.Errorf("another saga's registration: %s %q, want taken", got.Outcome, got.Reason)
			}
		})
	}
}
