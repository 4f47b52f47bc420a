package orchestrator

import (
	"context"
	"testing"
	"time"

	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/flows"
)

// An orchestrator registers the definitions it ships, and a request for a
// definition applied a moment ago, before the follower delivered it, makes
// it read the catalogue again (at most once a second) rather than refuse.
func TestDefinitionsRegisteredAndCaughtUp(t *testing.T) {
	e := newEnv(t, 1)
	o := e.unopened(nil)
	ctx := context.Background()
	if _, err := o.syncDefinitions(ctx); err != nil {
		t.Fatal(err)
	}
	vs, _, err := catalogue.Read(ctx, e.cfg, nil)
	if err != nil || len(vs) != len(flows.All()) {
		t.Fatalf("the catalogue after a first start holds %d versions (%v), want the %d shipped", len(vs), err, len(flows.All()))
	}
	again := e.unopened(nil)
	if _, err := again.syncDefinitions(ctx); err != nil {
		t.Fatal(err)
	}
	if vs2, _, _ := catalogue.Read(ctx, e.cfg, nil); len(vs2) != len(vs) {
		t.Fatalf("a second start registered again: %d versions", len(vs2))
	}

	spec, err := definition.Parse([]byte("name: stay\nsteps:\n  - {name: Only, service: user, command: VerifyUser, pivot: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	stay, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogue.Publish(ctx, e.cfg, e.cfg, stay, "operator:test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.machine.Definition("stay"); ok {
		t.Fatal("setup: the machine knew the definition before it caught up")
	}
	if !o.catchUpDefinitions(ctx) {
		t.Fatal("no catch-up")
	}
	if d, ok := o.machine.Definition("stay"); !ok || d.Version != stay.Version {
		t.Fatalf("after the catch-up: %+v, %v", d, ok)
	}
	spec.Name = "stay-2"
	stay2, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogue.Publish(ctx, e.cfg, e.cfg, stay2, "operator:test", time.Now()); err != nil {
		t.Fatal(err)
	}
	if o.catchUpDefinitions(ctx) {
		t.Fatal("a second catch-up within a second read the catalogue again")
	}
	if _, ok := o.machine.Definition("stay-2"); ok {
		t.Fatal("a second catch-up within a second read the catalogue again")
	}
}
