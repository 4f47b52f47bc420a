package main

import (
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
)

func TestParticipantCheckBadInput(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"no service", []string{"participant", "check"}, []string{"--service is required"}},
		{"unknown service", []string{"participant", "check", "--service", "hotel"}, []string{`unknown service "hotel"`}},
		{"bad timeout", []string{"participant", "check", "--service", "user", "--timeout", "0s"}, []string{"--timeout must be positive"}},
		{"bad concurrency", []string{"participant", "check", "--service", "user", "--concurrency", "0"}, []string{"--concurrency"}},
		{"argument", []string{"participant", "check", "--service", "user", "extra"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cliWithin(t, 30*time.Second, c.args...).wantFailure(t, exitUsage, c.wants...)
		})
	}
}

// The kit, run from the CLI against the whole system, passes each of the
// four built-in services and says so in JSON.
func TestParticipantCheckBuiltins(t *testing.T) {
	brokers := startSystem(t)
	for _, svc := range events.BuiltinServices() {
		t.Run(svc, func(t *testing.T) {
			out := cliWithin(t, 2*time.Minute, "participant", "check", "--service", svc, "--brokers", brokers, "-o", "json").wantOK(t)
			type report struct {
				Service string
				Results []struct{ Rule, Result, Detail string }
			}
			rep := decodeJSON[report](t, result{stdout: out})
			if rep.Service != svc || len(rep.Results) < 7 {
				t.Fatalf("report %+v", rep)
			}
			for _, r := range rep.Results {
				if r.Result != "pass" && r.Result != "skip" {
					t.Errorf("%s: %s (%s)", r.Rule, r.Result, r.Detail)
				}
			}
		})
	}
}
