package booking_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/booking"
)

func addShowCmd(t *testing.T, id string, d events.ShowData) (events.Envelope, events.CommandV1) {
	t.Helper()
	raw, _ := json.Marshal(d)
	p := events.CommandV1{Step: "AddShow", Attempt: 1, Data: raw}
	cmd := events.MustNew(id, events.AddShow, p, events.Trace{SagaID: "s-" + id, CorrelationID: d.ShowID, Actor: "operator"}, d.ShowID, time.Now())
	return cmd, p
}

func TestAddShow(t *testing.T) {
	svc := booking.New(demo.Catalog())
	opera := events.ShowData{ShowID: "opera-9", Title: "Tosca", Venue: "Opera House", Country: "AU", Capacity: 3, PriceCents: 9900}
	var log []events.Envelope
	handle := func(id string, d events.ShowData) events.ShowAddedV1 {
		t.Helper()
		cmd, p := addShowCmd(t, id, d)
		ev, ok, err := svc.Handle(cmd, p, time.Now())
		if err != nil || !ok {
			t.Fatalf("AddShow: ok=%v err=%v", ok, err)
		}
		if err := svc.Apply(ev); err != nil {
			t.Fatal(err)
		}
		log = append(log, ev)
		return events.MustDecode[events.ShowAddedV1](ev)
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
	// Folding the log from scratch gives the same shows.
	again := booking.New(demo.Catalog())
	for _, e := range log {
		if err := again.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	if again.Capacity("opera-9") != 3 {
		t.Fatalf("refold: capacity %d, want 3", again.Capacity("opera-9"))
	}
	// A show that cannot be a show is malformed.
	cmd, p := addShowCmd(t, "c5", events.ShowData{ShowID: "x"})
	if _, _, err := svc.Handle(cmd, p, time.Now()); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("invalid show: %v, want malformed", err)
	}
}
