package readmodel_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/readmodel"
)

// A saga of a definition the product does not ship is read by the version
// its log carries, and that version is kept in the read model's file: a
// process that opens it later reads the saga's state by it without having
// folded its start.
func TestTheDefinitionsOfTheLogAreKept(t *testing.T) {
	spec, err := definition.Parse([]byte("name: stay\nrequired: [user_id]\nsteps:\n  - {name: ReserveRoom, service: booking, command: ReserveSeats, compensation: ReleaseSeats}\n  - {name: Pay, service: payment, command: ChargePayment, pivot: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	stay, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	m := saga.NewMachine(saga.Definitions{"stay": stay})
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := events.StartSagaV1{Definition: "stay", IdempotencyKey: "k-stay", BookingRef: "BK-STAY", Data: []byte(`{"user_id":"u"}`)}
	id := events.SagaIDFor(p.IdempotencyKey)
	req := events.MustNew("req-stay", events.StartSaga, p, events.Trace{SagaID: id, CorrelationID: p.BookingRef, Actor: "u"}, id, at)
	d, err := m.Next(saga.State{}, saga.Start{Request: req, Payload: p}, at)
	if err != nil {
		t.Fatal(err)
	}
	var recs []bus.Record
	for i, e := range d.Events {
		recs = append(recs, record(topicSagaLog, 0, int64(i), bus.ToMessage(e), at))
	}
	path := filepath.Join(t.TempDir(), readmodel.FileName)
	ctx := context.Background()
	db, err := readmodel.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Apply(ctx, bus.Config{}, readmodel.ProjectionSagas, recs); err != nil {
		t.Fatal(err)
	}
	v, err := db.Saga(ctx, id)
	if err != nil || v.DefinitionVersion != stay.Version || len(v.Steps) != 2 {
		t.Fatalf("the saga: %+v, %v", v, err)
	}
	var spec2 string
	if err := db.SQL().QueryRowContext(ctx, `SELECT spec FROM saga_definitions WHERE version = ?`, stay.Version).Scan(&spec2); err != nil {
		t.Fatalf("the version is not kept: %v", err)
	}
	if spec2 != string(stay.Spec) {
		t.Fatalf("kept %s, want %s", spec2, stay.Spec)
	}
	db.Close()
	again, err := readmodel.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var n int
	if err := again.SQL().QueryRowContext(ctx, `SELECT count(*) FROM saga_definitions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a reopen: %d versions kept (%v)", n, err)
	}
}
