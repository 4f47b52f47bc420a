package booking_test

import (
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
)

func addShowCmd(t *testing.T, id string, d events.ShowData) (events.Envelope, events.CommandV1) {
	t.Helper()
	return participanttest.Command(t, participanttest.Cmd{Type: events.AddShow, Saga: "s-" + id, Data: d,
		Actor: "operator", Correlation: d.ShowID, Key: d.ShowID})
}

func TestAddShow(t *testing.T) {
	h := newHarness(t)
	svc := h.Svc
	opera := events.ShowData{ShowID: "opera-9", Title: "Tosca", Venue: "Opera House", Country: "AU", Capacity: 3, PriceCents: 9900}
	handle := func(id string, d events.ShowData) events.ShowAddedV1 {
		t.Helper()
		cmd, p := addShowCmd(t, id, d)
		return participanttest.Payload[events.ShowAddedV1](t, cmd, h.Run(cmd, p))
	}
	if p := handle("c1", opera); p.Outcome != events.OutcomeSucceeded || svc.Capacity("opera-9") != 3 {
		t.Fatalf("first listing: %s %q, capacity %d", p.Outcome, p.Reason, svc.Capacity("opera-9"))
	}
	if p := handle("c2", opera); p.Outcome != events.OutcomeSucceeded {
		t.Fatalf("the same listing again: %s %q, want succeeded", p.Outcome, p.Reason)
	}
	clash := opera
	clash.Capacity = 500
	if p := handle("c3", clash); p.Outcome != events.OutcomeFailed || svc.Capacity("opera-9") != 3 {
		t.Fatalf("another show under the id: %s, capacity %d; want failed and 3", p.Outcome, svc.Capacity("opera-9"))
	}
	if p := handle("c4", events.ShowData{ShowID: "show-1", Title: "x", Venue: "y", Country: "US", Capacity: 100, PriceCents: 2500}); p.Outcome != events.OutcomeSucceeded {
		t.Fatalf("listing a demo show as it is: %s %q", p.Outcome, p.Reason)
	}
	// Folding the log from scratch gives the same shows (h.Run checks
	// it); a show that cannot be a show is malformed.
	h.Refuses(addShowCmd(t, "c5", events.ShowData{ShowID: "x"}))
}
