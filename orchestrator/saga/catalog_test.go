package saga_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func twoSteps(version string, names ...string) saga.Definition {
	d := saga.Definition{Name: "pair", Version: version, CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}}
	for _, n := range names {
		d.Steps = append(d.Steps, saga.Step{Name: n, Service: events.ServiceUser, Command: events.VerifyUser,
			Timeout: time.Second, Retry: saga.RetryPolicy{MaxAttempts: 1}})
	}
	return d
}

// next is the step of the command the saga awaits.
func awaited(t *testing.T, m saga.Machine, s saga.State) string {
	t.Helper()
	cmds := m.InFlight(s, t0)
	if len(cmds) != 1 {
		t.Fatalf("%d commands in flight, want 1", len(cmds))
	}
	return commandOf(t, cmds[0]).Step
}

// A saga runs by the version it started on: a version added later is
// what new sagas start on, and changes nothing of the saga in flight.
func TestASagaRunsByItsVersion(t *testing.T) {
	v1, v2 := twoSteps("aaaaaaaaaaaa", "First", "Second"), twoSteps("bbbbbbbbbbbb", "First", "Other", "Second")
	m := saga.NewMachine(saga.Definitions{"pair": v1})
	d := &driver{t: t, m: m, now: t0, refold: true}
	d.feed(startFor("pair", "k-1", `{}`))
	d.feed(d.replyTo(events.OutcomeSucceeded, "", ""))
	m.Add(v2)
	if d.s.DefinitionVersion != v1.Version || awaited(t, m, d.s) != "Second" {
		t.Fatalf("the saga in flight: version %q awaiting %s", d.s.DefinitionVersion, awaited(t, m, d.s))
	}
	d.feed(d.replyTo(events.OutcomeSucceeded, "", ""))
	if d.s.Status != saga.StatusCompleted || len(d.s.Steps) != 2 {
		t.Fatalf("the saga in flight ended %s with %d steps", d.s.Status, len(d.s.Steps))
	}
	later := &driver{t: t, m: m, now: t0, refold: true}
	later.feed(startFor("pair", "k-2", `{}`))
	later.feed(later.replyTo(events.OutcomeSucceeded, "", ""))
	if later.s.DefinitionVersion != v2.Version || awaited(t, m, later.s) != "Other" {
		t.Fatalf("a new saga: version %q awaiting %s", later.s.DefinitionVersion, awaited(t, m, later.s))
	}
	// Both logs fold anew, each by its own version.
	if got := fold(t, m, d.log); got.DefinitionVersion != v1.Version || len(got.Steps) != 2 {
		t.Fatalf("the first saga refolds as %+v", got)
	}
}

// A log names the version it ran by; a machine that lacks it says so
// (the runtime reads the catalogue and tries again), unless the event
// carries the definition's file, which the machine then learns.
func TestAVersionTheMachineLacks(t *testing.T) {
	spec, err := definition.Parse([]byte("name: solo\nsteps:\n  - {name: Only, service: user, command: VerifyUser, pivot: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	solo, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	writer := saga.NewMachine(saga.Definitions{"solo": solo})
	out, err := writer.Decide(saga.State{}, startFor("solo", "k-3", `{}`), t0)
	if err != nil || len(out) == 0 {
		t.Fatalf("start: %v", err)
	}
	reader := saga.NewMachine(saga.Definitions{})
	s, err := reader.Apply(saga.State{}, out[0])
	if err != nil || s.DefinitionVersion != solo.Version || len(s.Steps) != 1 || !reader.Known(solo.Version) {
		t.Fatalf("a reader learns the logged definition: %+v, %v", s, err)
	}
	if _, ok := reader.Definition("solo"); ok {
		t.Fatal("a logged definition became the one new sagas start on")
	}
	bare := out[0]
	p := events.MustDecode[events.SagaStartedV1](bare)
	p.DefinitionSpec = nil
	bare.Payload = events.MustNew(bare.ID, bare.Type, p, events.Trace{}, "", t0).Payload
	if _, err := saga.NewMachine(saga.Definitions{}).Apply(saga.State{}, bare); !errors.Is(err, saga.ErrUnknownVersion) {
		t.Fatalf("a version neither known nor logged: %v, want ErrUnknownVersion", err)
	}
}
