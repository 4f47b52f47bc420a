package system_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/system"
)

// outageTimings compress a participant's outage: attempts of half a
// second, and the definitions' five compensation attempts used up in about
// three seconds.
var outageTimings = flows.Timings{
	StepTimeout:       500 * time.Millisecond,
	StepRetry:         saga.RetryPolicy{MaxAttempts: 3, Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
	CompensationRetry: saga.RetryPolicy{MaxAttempts: 5, Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
}

var withoutPayment = []string{"orchestrator", "user", "booking", "notification"}

// A payment service down for longer than the compensations' five attempts
// leaves no saga failed: the charge times out, its refund is tried past
// those attempts until the service is back, and the saga ends compensated.
// Once the horizon has passed, a saga whose participant is still down is
// parked as failed.
func TestParticipantOutageLeavesNoSagaFailed(t *testing.T) {
	h := newHarness(t)
	stop := h.runWith(system.Config{Parts: withoutPayment, Timings: outageTimings, CompensationHorizon: 10 * time.Minute})
	rec := h.book("alice", "show-1", 1, "tok_ok")
	const attempts = 12 // more than twice the definitions' five
	v := h.eventually(rec.SagaID, "refund attempts past the definition's", func(v projections.SagaView, _ *projections.Sagas) bool {
		return countType(v, events.CompensationFailed) >= attempts || v.Status == "failed"
	})
	if v.Status != "compensating" {
		t.Fatalf("after %d refund attempts the saga is %s (%s), want compensating", countType(v, events.CompensationFailed), v.Status, v.Reason)
	}
	stopPayment := h.runWith(system.Config{Parts: []string{"payment"}, Timings: outageTimings})
	if v = h.wait(rec); v.Status != "compensated" {
		t.Fatalf("once the payment service is back the saga is %s (%s), want compensated", v.Status, v.Reason)
	}
	stop()
	stopPayment()

	// The horizon passed with the service still down: parked.
	h.runWith(system.Config{Parts: withoutPayment, Timings: outageTimings, CompensationHorizon: 6 * time.Second})
	rec = h.book("bob", "show-1", 1, "tok_ok")
	v = h.wait(rec)
	if v.Status != "failed" || !strings.Contains(v.Reason, "compensation of ChargePayment") || !strings.Contains(v.Reason, " over ") {
		t.Fatalf("past the horizon the saga is %s (%s), want failed naming the refund and how long it was tried", v.Status, v.Reason)
	}
	if n := countType(v, events.CompensationFailed); n <= outageTimings.CompensationRetry.MaxAttempts {
		t.Errorf("parked after %d refund attempts, want more than %d in a horizon of 6s", n, outageTimings.CompensationRetry.MaxAttempts)
	}
}
