package saga_test

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// seeded prefixes failures with the seed that reproduces them.
type seeded struct {
	testing.TB
	seed int64
}

func (s seeded) Fatalf(format string, args ...any) {
	s.TB.Helper()
	s.TB.Fatalf("seed %d: "+format, append([]any{s.seed}, args...)...)
}

func (s seeded) Errorf(format string, args ...any) {
	s.TB.Helper()
	s.TB.Errorf("seed %d: "+format, append([]any{s.seed}, args...)...)
}

// TestRandomSagas drives thousands of sagas with random replies (success,
// failure, transient failure, duplicates, late and unknown replies) and
// random ticks, and checks the invariants after every input (see
// driver.feed and randomSaga) and at the end.
func TestRandomSagas(t *testing.T) {
	runs := int64(3000)
	if testing.Short() {
		runs = 300
	}
	ends := map[string]int{}
	for seed := int64(1); seed <= runs; seed++ {
		d := randomSaga(seeded{t, seed}, rand.New(rand.NewSource(seed)), seed <= 200)
		ends[d.s.Definition+" "+string(d.s.Status)]++
	}
	t.Logf("%d sagas ended: %v", runs, ends)
	for _, want := range []string{"book-ticket completed", "book-ticket compensated", "book-ticket failed", "cancel-booking completed", "cancel-booking compensated"} {
		if ends[want] == 0 {
			t.Errorf("no random saga ended %s: the generator misses a path", want)
		}
	}
}

// outcome draws a reply outcome: success with probability pOK, otherwise
// a refusal or a transient failure.
func outcome(rng *rand.Rand, pOK float64) string {
	switch {
	case rng.Float64() < pOK:
		return events.OutcomeSucceeded
	case rng.Intn(2) == 0:
		return events.OutcomeFailed
	default:
		return events.OutcomeRetryable
	}
}

// randomSaga runs one saga: a chaotic phase of random inputs, then a phase
// where every command is answered (or times out) and time moves on, until
// the saga ends. refold re-folds the whole log after every input.
func randomSaga(t testing.TB, rng *rand.Rand, refold bool) *driver {
	d := newDriver(t)
	d.refold = refold
	def, data := flows.BookTicket, bookData
	if rng.Intn(4) == 0 {
		def, data = flows.CancelBooking, cancelData
	}
	key := fmt.Sprintf("key-%d", rng.Int63())
	pOK := 0.4 + 0.55*rng.Float64() // some sagas meet a flaky world, some a kind one
	d.now = t0.Add(time.Duration(rng.Int63n(int64(24 * time.Hour))))

	// replayed is the state folded from the log as read back from its records.
	var replayed saga.State
	seen := 0
	step := func(in saga.Input, wantNothing bool) {
		out := d.feed(in)
		if wantNothing && len(out) != 0 {
			t.Fatalf("%T should change nothing, emitted %v", in, summary(out))
		}
		for _, e := range d.log[seen:] {
			var err error
			if replayed, err = machine.Apply(replayed, wire(t, e)); err != nil {
				t.Fatalf("replay %s: %v", e.Type, err)
			}
		}
		seen = len(d.log)
		if !reflect.DeepEqual(replayed, d.s) {
			t.Fatalf("state folded from the records differs:\n%+v\n%+v", replayed, d.s)
		}
		checkProgress(t, d)
	}

	step(startFor(def, key, data), false)
	chaos := 10 + rng.Intn(60)
	for i := 0; !d.s.Status.Terminal(); i++ {
		if i > chaos+2000 {
			t.Fatalf("saga not ended after %d inputs: %s %s", i, d.s.Status, statuses(d.s))
		}
		cmd, busy := inFlightStep(d.s)
		if i >= chaos {
			// Answer everything, let time pass: the saga must end.
			switch {
			case busy && rng.Intn(8) == 0:
				d.now = cmd.Deadline
				step(saga.Tick{}, false)
			case busy:
				step(d.replyTo(outcome(rng, pOK), "r", randomResult(rng)), false)
			default:
				d.now = d.s.NextWake()
				step(saga.Tick{}, false)
			}
			continue
		}
		switch rng.Intn(8) {
		case 0, 1:
			if busy {
				step(d.replyTo(outcome(rng, pOK), "r", randomResult(rng)), false)
			}
		case 2: // a duplicate of any earlier reply
			if len(d.replies) > 0 {
				step(d.replies[rng.Intn(len(d.replies))], true)
			}
		case 3: // a late reply to a settled command
			if old, found := settledCommand(d, rng); found {
				step(replyFor(d.s, old.ID, old.Command, outcome(rng, pOK), "late", "", d.now), true)
			}
		case 4: // a reply nobody asked for is refused
			id := events.DerivedID(fmt.Sprint(rng.Int63()), "unknown")
			d.refuse(replyFor(d.s, id, events.ChargePayment, events.OutcomeSucceeded, "", "", d.now), events.RefusedUnknownCommand)
		case 5: // time passes a little
			d.now = d.now.Add(time.Duration(rng.Int63n(int64(12 * time.Second))))
			step(saga.Tick{}, false)
		case 6: // the next thing due
			d.now = d.s.NextWake().Add(time.Duration(rng.Int63n(int64(time.Second))))
			step(saga.Tick{}, false)
		case 7: // the request again
			step(startFor(def, key, data), true)
		}
	}
	checkEnd(t, d)
	// An ended saga ignores everything.
	for i := 0; i < 3; i++ {
		d.now = d.now.Add(time.Hour)
		step(saga.Tick{}, true)
		if old, found := settledCommand(d, rng); found {
			step(replyFor(d.s, old.ID, old.Command, events.OutcomeSucceeded, "", "", d.now), true)
		}
	}
	if got := fold(t, machine, d.log); !reflect.DeepEqual(got, d.s) {
		t.Fatalf("fold(log) differs from the final state")
	}
	return d
}

func randomResult(rng *rand.Rand) string {
	if rng.Intn(2) == 0 {
		return ""
	}
	return fmt.Sprintf(`{"r%d":%d}`, rng.Intn(4), rng.Intn(100))
}

func inFlightStep(s saga.State) (saga.StepState, bool) {
	for _, st := range s.Steps {
		if st.CommandID != "" {
			return st, true
		}
	}
	return saga.StepState{}, false
}

// settledCommand picks a command of the log that is not in flight.
func settledCommand(d *driver, rng *rand.Rand) (stepInfo, bool) {
	cur, _ := inFlightStep(d.s)
	var old []stepInfo
	for _, e := range d.log {
		if e.Type == events.StepStarted || e.Type == events.CompensationStarted {
			if p := infoOf(e); p.ID != cur.CommandID {
				old = append(old, p)
			}
		}
	}
	if len(old) == 0 {
		return stepInfo{}, false
	}
	return old[rng.Intn(len(old))], true
}

// checkProgress checks what must hold at every point of a saga.
func checkProgress(t testing.TB, d *driver) {
	t.Helper()
	def, _ := machine.Definition(d.s.Definition)
	pivotDone := false
	for i, st := range d.s.Steps {
		if def.Steps[i].Pivot && st.Status == saga.StepSucceeded {
			pivotDone = true
		}
		if st.Status == saga.StepCompensating || st.Status == saga.StepCompensatedS {
			if def.Steps[i].Compensation == "" {
				t.Fatalf("step %s without compensation is %s", st.Name, st.Status)
			}
		}
	}
	if pivotDone && d.s.Status != saga.StatusRunning && d.s.Status != saga.StatusCompleted {
		t.Fatalf("saga %s after its pivot succeeded: %s", d.s.Status, statuses(d.s))
	}
	switch d.s.Status {
	case saga.StatusRunning:
		// Steps succeed in order: a prefix succeeded, then at most one
		// running, the rest pending.
		phase := 0
		for _, st := range d.s.Steps {
			switch {
			case phase == 0 && st.Status == saga.StepSucceeded:
			case phase == 0 && st.Status == saga.StepRunning:
				phase = 1
			case st.Status == saga.StepPending:
				phase = 2
			default:
				t.Fatalf("running saga with steps %s", statuses(d.s))
			}
		}
	case saga.StatusCompensating:
		for _, st := range d.s.Steps {
			if st.Status == saga.StepPending || st.Status == saga.StepRunning {
				t.Fatalf("compensating saga with steps %s", statuses(d.s))
			}
		}
	case saga.StatusCompleted, saga.StatusCompensated, saga.StatusFailed:
		// Checked against the whole log by checkEnd.
	}
}

// checkEnd checks a saga that ended against its whole log.
func checkEnd(t testing.TB, d *driver) {
	t.Helper()
	def, _ := machine.Definition(d.s.Definition)
	idx := map[string]int{}
	for i, st := range def.Steps {
		idx[st.Name] = i
	}
	succeeded, timedOut := map[string]bool{}, map[string]bool{}
	var compStarted, compDone []string
	for _, e := range d.log {
		p := infoOf(e)
		switch e.Type {
		case events.StepSucceeded:
			succeeded[p.Step] = true
		case events.StepTimedOut:
			timedOut[p.Step] = true
		case events.CompensationStarted:
			if len(compStarted) > 0 && compStarted[len(compStarted)-1] == p.Step {
				continue // a retry of the same compensation
			}
			if len(compDone) != len(compStarted) {
				t.Fatalf("compensation of %s started before %s was compensated", p.Step, compStarted[len(compStarted)-1])
			}
			compStarted = append(compStarted, p.Step)
		case events.StepCompensated:
			compDone = append(compDone, p.Step)
		}
	}
	// Compensations run in reverse order of the forward steps.
	if !slices.IsSortedFunc(compStarted, func(a, b string) int { return idx[b] - idx[a] }) || hasDup(compStarted) {
		t.Fatalf("compensations out of reverse order: %v", compStarted)
	}
	// A step that succeeded or may have had an effect (it timed out) and
	// has a compensation must be undone.
	var mustUndo []string
	for i := len(def.Steps) - 1; i >= 0; i-- {
		st := def.Steps[i]
		if st.Compensation != "" && (succeeded[st.Name] || timedOut[st.Name]) {
			mustUndo = append(mustUndo, st.Name)
		}
	}
	last := d.log[len(d.log)-1].Type
	switch d.s.Status {
	case saga.StatusCompleted:
		if last != events.SagaCompleted || len(compStarted) != 0 {
			t.Fatalf("completed saga: last %s, compensations %v", last, compStarted)
		}
		for _, st := range d.s.Steps {
			if st.Status != saga.StepSucceeded {
				t.Fatalf("completed saga with steps %s", statuses(d.s))
			}
		}
	case saga.StatusCompensated:
		if last != events.SagaCompensated || !slices.Equal(compDone, mustUndo) || !slices.Equal(compStarted, mustUndo) {
			t.Fatalf("compensated saga: compensated %v, started %v, want %v (last %s)", compDone, compStarted, mustUndo, last)
		}
		failed := 0
		for i, st := range d.s.Steps {
			switch {
			case slices.Contains(mustUndo, st.Name):
				if st.Status != saga.StepCompensatedS {
					t.Fatalf("step %s is %s, want compensated", st.Name, st.Status)
				}
			case st.Status == saga.StepFailedStatus:
				failed++
			case st.Status == saga.StepSucceeded:
				if def.Steps[i].Compensation != "" {
					t.Fatalf("step %s succeeded and was not compensated", st.Name)
				}
			case st.Status != saga.StepSkipped:
				t.Fatalf("compensated saga with steps %s", statuses(d.s))
			}
		}
		// Exactly one step failed for good: the one the reason names. It is
		// compensated only if it may have had an effect.
		culprit := stepOfReason(d)
		if culprit == "" {
			t.Fatalf("compensated saga, reason %q names no step", d.s.Reason)
		}
		st := d.s.Steps[idx[culprit]]
		wantFailed := 1
		if st.Status == saga.StepCompensatedS {
			wantFailed = 0
			if !st.Uncertain {
				t.Fatalf("step %s failed and was compensated though it had no effect", culprit)
			}
		}
		if failed != wantFailed {
			t.Fatalf("compensated saga: %d failed steps, culprit %s: %s", failed, culprit, statuses(d.s))
		}
	case saga.StatusFailed:
		// Parked, and reported by the watchdog at once.
		if last != events.SagaStuck || d.log[len(d.log)-2].Type != events.SagaFailed ||
			events.MustDecode[events.SagaStuckV1](d.log[len(d.log)-1]).Reason != events.StuckFailed || len(compStarted) == 0 || !slices.Equal(compStarted, mustUndo[:len(compStarted)]) ||
			!slices.Equal(compDone, compStarted[:len(compStarted)-1]) {
			t.Fatalf("failed saga: started %v, done %v, want a prefix of %v", compStarted, compDone, mustUndo)
		}
		stuck := d.s.Steps[idx[compStarted[len(compStarted)-1]]]
		if stuck.Status != saga.StepCompensating || stuck.CompAttempt != maxComp {
			t.Fatalf("failed saga: %s is %s after %d attempts", stuck.Name, stuck.Status, stuck.CompAttempt)
		}
	default:
		t.Fatalf("saga not ended: %s", d.s.Status)
	}
}

// stepOfReason is the step the first "X failed" reason names.
func stepOfReason(d *driver) string {
	for _, st := range d.s.Steps {
		if len(d.s.Reason) > len(st.Name) && d.s.Reason[:len(st.Name)+1] == st.Name+" " {
			return st.Name
		}
	}
	return ""
}

func hasDup(xs []string) bool {
	seen := map[string]bool{}
	for _, x := range xs {
		if seen[x] {
			return true
		}
		seen[x] = true
	}
	return false
}
