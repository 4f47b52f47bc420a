package saga_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// A step of a service declared in configuration is commanded on that
// service's topic, keyed by its key field, and only that service's
// signature answers it.
func TestDeclaredServiceStep(t *testing.T) {
	if err := events.Declare([]events.ServiceDecl{{Name: "hotel", Key: "booking_ref",
		Commands: []events.CommandDecl{{Name: "ReserveRoom", Compensation: "ReleaseRoom"}}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	step := func(name, svc string, cmd, comp events.Type, key string) saga.Step {
		return saga.Step{Name: name, Service: svc, Command: cmd, Compensation: comp, KeyField: key,
			Timeout: time.Second, Retry: saga.RetryPolicy{MaxAttempts: 1}}
	}
	defs, err := saga.NewDefinitions(saga.Definition{Name: "stay", CompensationRetry: saga.RetryPolicy{MaxAttempts: 1},
		Steps: []saga.Step{
			step("ReserveRoom", "hotel", "ReserveRoom", "ReleaseRoom", "booking_ref"),
			step("ChargePayment", events.ServicePayment, events.ChargePayment, events.RefundPayment, "booking_ref"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t)
	d.m = saga.NewMachine(defs)
	data := `{"booking_ref":"BK-STAY","user_id":"u-1"}`
	var cmds []saga.Outgoing
	record := func(out []events.Envelope) {
		for _, e := range out {
			if c, ok := d.m.Command(d.s, e); ok {
				cmds = append(cmds, c)
			}
		}
	}
	record(d.feed(startFor("stay", "k-stay", data)))
	if len(cmds) != 1 || cmds[0].Topic != "hotel.commands" || cmds[0].Envelope.Key != "BK-STAY" || cmds[0].Envelope.Type != "ReserveRoom" {
		t.Fatalf("commands after the start: %+v", cmds)
	}
	if _, err := events.Check(cmds[0].Envelope); err != nil {
		t.Fatalf("the hotel command does not check: %v", err)
	}
	d.refuse(signedBy(events.ServiceBooking)(d), events.RefusedSignerNotAllowed)
	r := d.replyTo(events.OutcomeSucceeded, "", `{"room":"101"}`)
	r.Signer = "hotel"
	record(d.feed(r))
	// Payment declines: the hotel's compensation goes to the hotel.
	pr := d.replyTo(events.OutcomeFailed, "declined", "")
	pr.Signer = events.ServicePayment
	cmds = nil
	record(d.feed(pr))
	if len(cmds) != 1 || cmds[0].Topic != "hotel.commands" || cmds[0].Envelope.Type != "ReleaseRoom" {
		t.Fatalf("commands after the decline: %+v", cmds)
	}
	p := commandOf(t, cmds[0])
	if !p.Compensation || !json.Valid(p.Data) {
		t.Errorf("compensation payload %+v", p)
	}
}
