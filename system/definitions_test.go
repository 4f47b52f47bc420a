package system_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/system"
)

// Editing book-ticket while sagas run changes no saga started before the
// edit: one that had ended replays exactly as it was, one in flight
// finishes by the version it started on, across a restart of the
// orchestrator from its snapshots; sagas started after the edit was
// picked up (without a restart) run the new version.
func TestEditingADefinitionChangesNoEarlierSaga(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	v1, err := flows.AllWith(testTimings)
	if err != nil {
		t.Fatal(err)
	}
	old := v1[flows.BookTicket]
	// The edit: book-ticket without its notification.
	spec, _ := flows.SpecWith(flows.BookTicket, testTimings)
	spec.Steps = spec.Steps[:len(spec.Steps)-1]
	edited, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	if edited.Version == old.Version {
		t.Fatal("setup: the edit kept the version")
	}
	services := h.runWith(system.Config{Parts: []string{"user", "booking", "payment"}})
	defer services()
	notification := h.runWith(system.Config{Parts: []string{"notification"}})
	orch := h.runWith(system.Config{Parts: []string{"orchestrator"}, SnapshotEvents: 8})

	ended := h.wait(h.book("alice", "show-1", 1, "tok_ok"))
	if ended.Status != "completed" || ended.DefinitionVersion != old.Version || len(ended.Steps) != 5 {
		t.Fatalf("before the edit: %s on version %q with %d steps", ended.Status, ended.DefinitionVersion, len(ended.Steps))
	}
	// With the notification service down, a saga waits past its pivot.
	notification()
	inFlight := h.book("bob", "show-1", 1, "tok_ok")
	h.eventually(inFlight.SagaID, "the pivot", func(v projections.SagaView, _ *projections.Sagas) bool {
		return stepStatuses(v)["ConfirmBooking"] == "succeeded"
	})

	operator := h.cfg
	operator.Signer = h.keys[events.PrincipalOperator]
	if published, err := catalogue.Publish(ctx, h.cfg, operator, edited, "operator:test", time.Now()); err != nil || !published {
		t.Fatalf("publish the edit: %v (published %v)", err, published)
	}
	// The running orchestrator picks the edit up: a booking soon starts
	// on it. Those that started before it did are of the old version.
	var after []client.Receipt
	for i := 0; ; i++ {
		rec := h.book("alice", "show-1", 1, "tok_ok")
		after = append(after, rec)
		v := h.eventually(rec.SagaID, "a start", func(v projections.SagaView, _ *projections.Sagas) bool { return v.DefinitionVersion != "" })
		if v.DefinitionVersion == edited.Version {
			break
		}
		if i == 50 {
			t.Fatalf("the orchestrator did not pick the edit up: sagas start on %s", v.DefinitionVersion)
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.wait(after[len(after)-1])

	// A restart of the orchestrator from its snapshots, with the
	// notification service back.
	snapshots := 0
	if err := bus.ReadAll(ctx, h.cfg, h.cfg.Topic(events.TopicSagaSnapshots), func(bus.Record) error { snapshots++; return nil }); err != nil || snapshots == 0 {
		t.Fatalf("no snapshot to restart from (%d, %v)", snapshots, err)
	}
	orch()
	h.runWith(system.Config{Parts: []string{"orchestrator", "notification"}, SnapshotEvents: 8})
	after = append(after, h.book("bob", "show-1", 1, "tok_ok"))

	finished := h.wait(inFlight)
	if finished.Status != "completed" || finished.DefinitionVersion != old.Version || stepStatuses(finished)["SendNotification"] != "succeeded" {
		t.Errorf("the saga in flight at the edit: %s on %q, steps %v; want completed on the old version, notified", finished.Status, finished.DefinitionVersion, stepStatuses(finished))
	}
	for _, rec := range after {
		v := h.wait(rec)
		steps := len(old.Steps)
		if v.DefinitionVersion == edited.Version {
			steps = len(edited.Steps)
		}
		if v.Status != "completed" || len(v.Steps) != steps {
			t.Errorf("saga %s on %s: %s with steps %v, want completed with %d", rec.SagaID, v.DefinitionVersion, v.Status, stepStatuses(v), steps)
		}
	}
	if last := h.wait(after[len(after)-1]); last.DefinitionVersion != edited.Version {
		t.Errorf("a saga started after the restart runs %s, want the edit %s", last.DefinitionVersion, edited.Version)
	}
	// The saga that had ended replays as it was, folded from the log by
	// a reader that was given neither version.
	sagas, err := h.c.Sagas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sagas.Find(ended.SagaID)
	if !reflect.DeepEqual(again.Steps, ended.Steps) || !reflect.DeepEqual(again.Events, ended.Events) || again.DefinitionVersion != old.Version {
		t.Errorf("the ended saga replays otherwise:\n got %+v\nwant %+v", again, ended)
	}
}
