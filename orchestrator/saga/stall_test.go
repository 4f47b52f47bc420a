package saga_test

import (
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// A decision's events are appended one record at a time; a process killed
// in between leaves a log that stops part-way through a decision, with
// nothing in flight and nothing scheduled. A tick on such a saga carries it
// on, whichever record it stopped after.
func TestTickResumesADecisionCutShort(t *testing.T) {
	full := run(t, start("book-ticket", bookData), ok(""), ok(`{"amount_cents":5000}`), fail("card declined"), ok(""))
	cuts := 0
	for cut := 1; cut < len(full.log); cut++ {
		if full.log[cut].Type != events.StepStarted && full.log[cut].Type != events.CompensationStarted {
			continue // only cuts that drop the start of an action leave a saga stalled
		}
		cuts++
		s := fold(t, machine, full.log[:cut])
		if !s.NextWake().IsZero() || s.Status.Terminal() {
			t.Fatalf("cut before %d (%s): not stalled: wake %s, status %s", cut, full.log[cut].Type, s.NextWake(), s.Status)
		}
		out, err := machine.Decide(s, saga.Tick{}, t0)
		if err != nil {
			t.Fatalf("cut before %d: %v", cut, err)
		}
		if len(out) == 0 || out[0].Type != full.log[cut].Type || out[0].ID != full.log[cut].ID {
			t.Fatalf("cut before %d: tick emitted %v, want %s with the same id as the lost record", cut, summary(out), full.log[cut].Type)
		}
	}
	if cuts < 4 {
		t.Fatalf("only %d cuts tried", cuts)
	}
}
