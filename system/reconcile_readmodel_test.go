package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// The reconciliation the read model keeps one event at a time reports what
// a fold of every log reports: on a consistent system, and after a stray
// charge and a forged refund of nothing are planted.
func TestReconcileFromTheReadModelMatchesTheLogs(t *testing.T) {
	h := newHarness(t)
	dbPath := filepath.Join(t.TempDir(), readmodel.FileName)
	h.runWith(system.Config{SeedShows: true, ReadModel: dbPath})
	ctx := context.Background()
	db, err := readmodel.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })

	kept := h.wait(h.book("alice", "show-1", 2, "tok_ok"))
	cancelled := h.wait(h.book("bob", "show-1", 3, "tok_ok"))
	h.wait(h.book("bob", "show-1", 1, "tok_declined"))
	h.wait(h.book("mallory", "show-1", 1, "tok_ok"))
	rec, err := h.c.Cancel(ctx, cancelled.BookingRef, "")
	if err != nil {
		t.Fatal(err)
	}
	h.wait(rec)
	agree := func(wantFindings int) client.Reconciliation {
		t.Helper()
		var fromLogs, fromModel client.Reconciliation
		bustest.Eventually(t, sagaTimeout, func() (bool, string) {
			now := time.Now()
			logs, err := h.c.Reconcile(ctx, now)
			if err != nil {
				return false, err.Error()
			}
			r, err := db.Reconcile(ctx, h.cfg, now)
			if err != nil {
				return false, err.Error()
			}
			fromLogs, fromModel = logs, client.FromReadModel(r, now)
			return r.LagEvents == 0 && len(logs.Findings) == wantFindings &&
					reflect.DeepEqual(fromModel.Findings, fromLogs.Findings) && reflect.DeepEqual(fromModel.Summary, fromLogs.Summary),
				fmt.Sprintf("lag %d; read model %+v\nlogs %+v", r.LagEvents, fromModel, fromLogs)
		})
		return fromModel
	}
	if rep := agree(0); rep.Summary.Charges != 2 || rep.Summary.Refunds != 1 || rep.Source != "read model" {
		t.Errorf("consistent system: %+v", rep)
	}

	// What a payment service gone wrong would write to its own log.
	plant := func(id string, typ events.Type, ref string, p events.PaymentV1) {
		e, err := events.New(id, typ, p, events.Trace{CorrelationID: ref, Actor: "mallory"}, ref, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		h.publish(events.DomainTopic(events.ServicePayment), bus.ToMessage(e))
	}
	plant("stray-charge", events.PaymentCharged, "BK-STRAY", events.PaymentV1{Handled: events.Handled{CommandID: "stray", Outcome: events.OutcomeSucceeded},
		BookingRef: "BK-STRAY", UserID: "alice", ChargeID: "ch-stray", AmountCents: 1999})
	plant("forged-tombstone", events.PaymentRefunded, kept.BookingRef, events.PaymentV1{Handled: events.Handled{CommandID: "forged", Outcome: events.OutcomeSucceeded},
		BookingRef: kept.BookingRef, UserID: "alice"})
	rep := agree(1)
	if f := rep.Findings[0]; f.BookingRef != "BK-STRAY" {
		t.Errorf("finding %+v, want the stray charge", f)
	}
	raw, _ := json.Marshal(rep)
	t.Logf("from the read model: %s", raw)
}
