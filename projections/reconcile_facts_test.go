package projections_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// restored builds a Reconciler as a read model does: each service log event
// folded into the stored facts of its booking ref alone (through JSON, as
// they are stored), then every ref's facts and every saga's state given
// back to one Reconciler.
func (l *rcLog) restored(t *testing.T) *projections.Reconciler {
	t.Helper()
	stored := map[string][]byte{}
	for _, e := range l.records {
		ref, ok := projections.ServiceRef(e)
		if !ok {
			continue
		}
		one := projections.NewReconciler(flows.All())
		if raw, ok := stored[ref]; ok {
			var f projections.RefFacts
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			one.Restore(ref, f)
		}
		one.Add(e)
		raw, err := json.Marshal(one.Facts(ref))
		if err != nil {
			t.Fatal(err)
		}
		stored[ref] = raw
	}
	r := projections.NewReconciler(flows.All())
	for ref, raw := range stored {
		var f projections.RefFacts
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		r.Restore(ref, f)
	}
	folded := projections.NewSagas(flows.All())
	for _, e := range l.sagas {
		folded.Add(e)
	}
	for _, v := range folded.List("") {
		s, _ := folded.State(v.SagaID)
		r.RestoreSaga(s)
	}
	return r
}

// checkRestored: the restored reconciler reports and sums what the one
// fed every event does.
func (l *rcLog) checkRestored(t *testing.T, now time.Time) {
	t.Helper()
	want, got := l.reconciler(), l.restored(t)
	if w, g := want.Report(now), got.Report(now); !reflect.DeepEqual(w, g) {
		t.Errorf("restored from facts, the report is\n%+v\nwant\n%+v", g, w)
	}
	if w, g := want.Summary(), got.Summary(); !reflect.DeepEqual(w, g) {
		t.Errorf("restored from facts, the summary is %+v, want %+v", g, w)
	}
}

func TestServiceRef(t *testing.T) {
	for _, tc := range []struct {
		e    events.Envelope
		ref  string
		fold bool
	}{
		{rcSeats(t, events.SeatsReserved, "BK-1", "show-1", 2), "BK-1", true},
		{rcPay(t, events.PaymentRefunded, "BK-2", "", 0), "BK-2", true},
		{rcNote(t, "BK-3", "NotifyUser", events.OutcomeSucceeded), "BK-3", true},
		{rcSeats(t, events.SeatsRejected, "BK-4", "show-1", 2), "", false},
		{rcPayOutcome(t, events.PaymentDeclined, "BK-5", "", 100, events.OutcomeFailed), "", false},
	} {
		ref, ok := projections.ServiceRef(tc.e)
		if ref != tc.ref || ok != tc.fold {
			t.Errorf("%s: ServiceRef = %q, %v; want %q, %v", tc.e.Type, ref, ok, tc.ref, tc.fold)
		}
	}
}
