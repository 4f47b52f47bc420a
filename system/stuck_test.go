package system_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/system"
)

// eventually polls the sagas folded from the logs until ok accepts the
// view of sagaID, and fails the test after sagaTimeout.
func (h *harness) eventually(sagaID, what string, ok func(projections.SagaView, *projections.Sagas) bool) projections.SagaView {
	h.t.Helper()
	deadline := time.Now().Add(sagaTimeout)
	var v projections.SagaView
	for {
		sagas, err := h.c.Sagas(context.Background())
		if err != nil {
			h.t.Fatal(err)
		}
		v, _ = sagas.Find(sagaID)
		if ok(v, sagas) {
			return v
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("saga %s: %s did not happen in %s: %s, stuck %+v, events %+v", sagaID, what, sagaTimeout, v.Status, v.Stuck, v.Events)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countType(v projections.SagaView, typ events.Type) int {
	n := 0
	for _, e := range v.Events {
		if e.Type == string(typ) {
			n++
		}
	}
	return n
}

func listed(sagas *projections.Sagas, status, sagaID string) bool {
	for _, v := range sagas.List(status) {
		if v.SagaID == sagaID {
			return true
		}
	}
	return false
}

// A step whose service does not answer runs past its SLO: the watchdog
// appends SagaStuck once (a restart of the orchestrator does not report it
// again), the saga is listed as stuck, and once the service is back the
// saga completes and is stuck no more, its log still telling it was.
func TestSagaPastItsSLOIsReportedOnce(t *testing.T) {
	h := newHarness(t)
	// A deadline far off, so that the saga waits for the user service
	// however long the restarts take.
	patient := testTimings
	patient.StepTimeout = 5 * time.Minute
	withoutUser := system.Config{Parts: []string{"orchestrator", "booking", "payment", "notification"}, Timings: patient,
		SLOs: map[string]time.Duration{"book-ticket.VerifyUser": 2 * time.Second}}
	stop := h.runWith(withoutUser)
	rec := h.book("alice", "show-1", 1, "tok_ok")
	v := h.eventually(rec.SagaID, "a SagaStuck", func(v projections.SagaView, sagas *projections.Sagas) bool {
		return v.Stuck != nil && listed(sagas, projections.StatusStuck, rec.SagaID)
	})
	if v.Status != "running" || v.Stuck.Reason != events.StuckSLO || v.Stuck.Step != "VerifyUser" || countType(v, events.SagaStuck) != 1 {
		t.Fatalf("reported saga: %s, stuck %+v, %d SagaStuck", v.Status, v.Stuck, countType(v, events.SagaStuck))
	}
	stop()
	stop = h.runWith(withoutUser)
	time.Sleep(time.Second) // ten ticks of the recovered orchestrator
	stop()
	h.runWith(system.Config{Timings: patient, SLOs: withoutUser.SLOs})
	v = h.eventually(rec.SagaID, "completion", func(v projections.SagaView, sagas *projections.Sagas) bool {
		return v.Status == "completed" && !listed(sagas, projections.StatusStuck, rec.SagaID)
	})
	if v.Stuck != nil || countType(v, events.SagaStuck) != 1 {
		t.Fatalf("completed saga: stuck %+v, %d SagaStuck, want none now and one in its log", v.Stuck, countType(v, events.SagaStuck))
	}
}

// A saga parked as failed is reported at once and listed as stuck until
// an operator's retry resumes it.
func TestFailedSagaIsStuckUntilRetried(t *testing.T) {
	h := newHarness(t)
	h.run()
	rec := h.book("alice", "show-cancelled", 1, "tok_refund_fails")
	v := h.eventually(rec.SagaID, "failed and reported", func(v projections.SagaView, sagas *projections.Sagas) bool {
		return v.Status == "failed" && v.Stuck != nil && listed(sagas, projections.StatusStuck, rec.SagaID)
	})
	if v.Stuck.Reason != events.StuckFailed || countType(v, events.SagaStuck) != 1 || v.Events[len(v.Events)-1].Type != string(events.SagaStuck) {
		t.Fatalf("failed saga: stuck %+v, events %+v", v.Stuck, v.Events)
	}
	if _, err := h.c.Retry(context.Background(), rec.BookingRef, "", "refunds fixed"); err != nil {
		t.Fatal(err)
	}
	v = h.eventually(rec.SagaID, "compensation after the retry", func(v projections.SagaView, sagas *projections.Sagas) bool {
		return v.Status == "compensated" && !listed(sagas, projections.StatusStuck, rec.SagaID)
	})
	if v.Stuck != nil {
		t.Fatalf("compensated saga still stuck: %+v", v.Stuck)
	}
}
