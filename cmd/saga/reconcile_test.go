package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

func TestReconcileCommand(t *testing.T) {
	brokers, _, pub := quietBroker(t)
	saga := func(args ...string) result {
		return cliWithin(t, 30*time.Second, append([]string{"--brokers", brokers}, args...)...)
	}
	if out := saga("reconcile").wantOK(t); !strings.HasPrefix(out, "no inconsistencies") || !strings.Contains(out, "net:            0.00") {
		t.Errorf("reconcile of empty logs:\n%s", out)
	}
	saga("reconcile", "extra").wantFailure(t, exitUsage, `"extra"`)

	stray := events.PaymentV1{Handled: events.Handled{CommandID: "cmd-stray", Outcome: events.OutcomeSucceeded},
		BookingRef: "BK-STRAY", ChargeID: "ch-stray", AmountCents: 4200}
	e := events.MustNew("stray", events.PaymentCharged, stray, events.Trace{CorrelationID: "BK-STRAY"}, "BK-STRAY", time.Now())
	if err := pub.Publish(events.DomainTopic(events.ServicePayment), bus.ToMessage(e)); err != nil {
		t.Fatal(err)
	}
	r := saga("reconcile")
	if r.code != exitError || r.stderr != "saga: 1 inconsistency found\n" {
		t.Errorf("reconcile with a stray charge: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{"charge_without_booking", "BK-STRAY", "42.00", "no saga has this booking ref", "SUMMARY", "charged:        42.00 (1 charge)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("reconcile output does not mention %q:\n%s", want, r.stdout)
		}
	}
	r = saga("-o", "json", "reconcile")
	var rep struct {
		Findings []struct {
			Kind       string `json:"kind"`
			BookingRef string `json:"booking_ref"`
		} `json:"findings"`
		Summary struct {
			NetCents int64 `json:"net_cents"`
		} `json:"summary"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != exitError {
		t.Fatalf("reconcile -o json: exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != "charge_without_booking" || rep.Findings[0].BookingRef != "BK-STRAY" || rep.Summary.NetCents != 4200 {
		t.Errorf("reconcile -o json: %+v", rep)
	}
}
