package conformance_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/conformance"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
	"github.com/sagaflow/saga/system"
)

// world is a provisioned broker and every principal's keys; cfg trusts
// the keyring and signs as the orchestrator, as the kit does.
type world struct {
	cfg  bus.Config
	keys map[string]*sign.Key
}

func newWorld(t *testing.T) world {
	t.Helper()
	keys, ring, err := sign.EnsureDir(t.TempDir(), events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bustest.Start(t)
	cfg.Trust, cfg.Signer = ring, keys[events.PrincipalOrchestrator]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return world{cfg: cfg, keys: keys}
}

func (w world) check(t *testing.T, service string, timeout time.Duration) conformance.Report {
	t.Helper()
	script, err := conformance.ScriptFor(service)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := conformance.Check(ctx, conformance.Config{Bus: w.cfg, Script: script, Timeout: timeout, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = rep.WriteText(&b)
	t.Logf("%s", b.String())
	return rep
}

// The four built-in services keep every rule of the protocol.
func TestBuiltinServicesPass(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: w.cfg, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
			Parts: events.BuiltinServices(), Keys: w.keys})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	for _, svc := range events.BuiltinServices() {
		t.Run(svc, func(t *testing.T) {
			rep := w.check(t, svc, 30*time.Second)
			if !rep.Passed() {
				t.Errorf("%s fails: %+v", svc, rep.Failed())
			}
			rules := map[string]string{}
			for _, r := range rep.Results {
				rules[r.Rule] = r.Result
			}
			for _, r := range []string{"same command twice", "unknown command type", "malformed payload", "unsigned command", "4 sagas at once"} {
				if rules[r] != conformance.Pass {
					t.Errorf("rule %q: %q, want pass", r, rules[r])
				}
			}
			if svc == events.ServiceBooking || svc == events.ServicePayment {
				if rules["compensation before its command"] != conformance.Pass {
					t.Errorf("compensation before its command: %q, want pass", rules["compensation before its command"])
				}
			}
		})
	}
}

// A participant that applies every delivery of a command again, and
// answers everything it can read (even an unknown type) instead of
// dead-lettering it, fails the kit on exactly those rules.
func TestMisbehavingParticipantFails(t *testing.T) {
	if err := events.Declare([]events.ServiceDecl{{Name: "rogue", Key: "room",
		Commands: []events.CommandDecl{{Name: "HoldRoom", Compensation: "FreeRoom"}},
		Sample:   json.RawMessage(`{"room":"r-1"}`)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rogue := w.cfg
	rogue.Signer = w.keys["rogue"]
	go runRogue(ctx, t, rogue)

	rep := w.check(t, "rogue", 3*time.Second)
	got := map[string]conformance.Result{}
	for _, r := range rep.Results {
		got[r.Rule] = r
	}
	for rule, want := range map[string]string{
		"command HoldRoom":                conformance.Pass,
		"compensation FreeRoom":           conformance.Pass,
		"same command twice":              conformance.Fail,
		"compensation before its command": conformance.Fail,
		"unknown command type":            conformance.Fail,
		"malformed payload":               conformance.Fail,
		"unsigned command":                conformance.Fail,
		"4 sagas at once":                 conformance.Pass,
	} {
		if got[rule].Result != want {
			t.Errorf("rule %q: %q (%s), want %s", rule, got[rule].Result, got[rule].Detail, want)
		}
	}
	if d := got["same command twice"].Detail; !strings.Contains(d, "2 domain events") {
		t.Errorf("same command twice: %q, want it to count the second effect", d)
	}
	if rep.Passed() {
		t.Error("the report passes a participant that applies a command twice")
	}
}

// runRogue is a participant that gets everything wrong that is easy to
// get wrong: it keeps no record of the commands it applied, and it
// answers whatever it receives, as succeeded.
func runRogue(ctx context.Context, t *testing.T, cfg bus.Config) {
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		t.Error(err)
		return
	}
	defer func() { _ = pub.Close() }()
	_ = bus.Follow(ctx, cfg, cfg.Topic(events.CommandTopic("rogue")), func(r bus.Record) error {
		cmd, err := events.FromHeaders("", r.Headers, r.Value)
		if err != nil {
			return nil //nolint:nilerr // the rogue ignores what it cannot read: it dead-letters nothing
		}
		ev := events.MustNew(events.DerivedID(cmd.ID, "event"+time.Now().String()), "RoomHeld",
			events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}, events.TraceOf(cmd), string(r.Key), time.Now())
		reply := events.MustNew(events.DerivedID(cmd.ID, "reply"), events.StepReply,
			events.StepReplyV1{CommandID: cmd.ID, Command: cmd.Type, Outcome: events.OutcomeSucceeded}, events.TraceOf(cmd), cmd.SagaID, time.Now())
		if err := pub.Publish(cfg.Topic(events.DomainTopic("rogue")), bus.ToMessage(ev)); err != nil {
			return err
		}
		return pub.Publish(cfg.Topic(events.TopicReplies), bus.ToMessage(reply))
	})
}
