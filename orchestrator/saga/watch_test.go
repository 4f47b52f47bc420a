package saga_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// The default SLOs are SLOMultiple times the budget of timeouts and
// backoffs: a step of the shipped policy (3 attempts of 10 s, waits of
// 0.5 s and 1 s) may take 63 s; a book-ticket saga (five steps, two of
// them with a compensation of 5 attempts and waits of 0.5, 1, 2 and 4 s)
// 9m5s. An SLO a definition or step sets wins.
func TestSLOs(t *testing.T) {
	book := flows.All()[flows.BookTicket]
	custom := book
	custom.SLO = time.Minute
	custom.Steps = slices.Clone(book.Steps)
	custom.Steps[2].SLO = 5 * time.Second
	for _, tt := range []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"book-ticket VerifyUser", book.StepSLO(0), 63 * time.Second},
		{"book-ticket ConfirmBooking", book.StepSLO(3), 63 * time.Second},
		{"book-ticket saga", book.SagaSLO(), 9*time.Minute + 5*time.Second},
		{"a step's own SLO", custom.StepSLO(2), 5 * time.Second},
		{"the other steps keep theirs", custom.StepSLO(1), 63 * time.Second},
		{"a definition's own SLO", custom.SagaSLO(), time.Minute},
		{"one attempt, no backoff", saga.Definition{Steps: []saga.Step{{Timeout: time.Second, Retry: saga.RetryPolicy{MaxAttempts: 1}}}}.StepSLO(0), 2 * time.Second},
		{"backoff capped", saga.Definition{Steps: []saga.Step{{Timeout: time.Second,
			Retry: saga.RetryPolicy{MaxAttempts: 4, Backoff: time.Second, MaxBackoff: 2 * time.Second}}}}.StepSLO(0), 2 * (4 + 1 + 2 + 2) * time.Second},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: SLO %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	bad := book
	bad.SLO = -time.Second
	bad.Steps = slices.Clone(book.Steps)
	bad.Steps[0].SLO = -time.Second
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "the SLO is negative") || !strings.Contains(err.Error(), `step "VerifyUser" has a negative SLO`) {
		t.Errorf("Validate of negative SLOs: %v", err)
	}
}

// stuckEvents returns the SagaStuck payloads of a log.
func stuckEvents(log []events.Envelope) []events.SagaStuckV1 {
	var out []events.SagaStuckV1
	for _, e := range log {
		if e.Type == events.SagaStuck {
			out = append(out, events.MustDecode[events.SagaStuckV1](e))
		}
	}
	return out
}

// A pivot that never answers keeps the saga running: once the step has run
// past its SLO the watchdog reports it, once, and the saga goes on when the
// answer comes; it is stuck no more once it has completed.
func TestStepPastItsSLOIsReportedOnce(t *testing.T) {
	d := run(t, flat(start(flows.BookTicket, bookData), oks(3))...)
	first := d.inFlight().StartedAt
	if w := d.m.NextWake(d.s); !w.Equal(first.Add(stepTO)) {
		t.Fatalf("NextWake %s, want the deadline %s", w, first.Add(stepTO))
	}
	for d.now.Before(first.Add(63 * time.Second)) {
		timeout.do(d)
		wake.do(d)
	}
	got := stuckEvents(d.log)
	want := events.SagaStuckV1{Reason: events.StuckSLO, Step: "ConfirmBooking", SLO: "1m3s", Since: first}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("SagaStuck %+v, want one %+v", got, want)
	}
	if d.s.Stuck != events.StuckSLO || d.s.StuckStep != "ConfirmBooking" || !d.s.StuckNow() {
		t.Fatalf("state stuck %q step %q now %v", d.s.Stuck, d.s.StuckStep, d.s.StuckNow())
	}
	for range 3 {
		timeout.do(d)
		wake.do(d)
	}
	if n := len(stuckEvents(d.log)); n != 1 {
		t.Fatalf("%d SagaStuck events, want the one", n)
	}
	ok("").do(d) // the pivot answers at last
	ok("").do(d) // the notification
	if d.s.Status != saga.StatusCompleted || d.s.StuckNow() || d.s.Stuck != events.StuckSLO {
		t.Fatalf("after the answer: %s, stuck %q, now %v", d.s.Status, d.s.Stuck, d.s.StuckNow())
	}
}

// A saga whose steps each stay inside their SLOs is still reported when
// the whole runs past the definition's.
func TestSagaPastItsSLOIsReported(t *testing.T) {
	defs := flows.All()
	short := defs[flows.BookTicket]
	short.SLO = 25 * time.Second
	defs[flows.BookTicket] = short
	d := newDriver(t)
	d.m = saga.NewMachine(defs)
	start(flows.BookTicket, bookData).do(d)
	timeout.do(d) // VerifyUser: 10 s
	wake.do(d)
	ok("").do(d)
	timeout.do(d) // ReserveSeats: 10 s more
	wake.do(d)
	if w := d.m.NextWake(d.s); !w.Equal(t0.Add(25 * time.Second)) {
		t.Fatalf("NextWake %s, want the saga's SLO at %s", w, t0.Add(25*time.Second))
	}
	d.now = t0.Add(25 * time.Second)
	d.feed(saga.Tick{})
	want := events.SagaStuckV1{Reason: events.StuckSLO, SLO: "25s", Since: t0}
	if got := stuckEvents(d.last); len(got) != 1 || got[0] != want {
		t.Fatalf("tick at the SLO emitted %v, want %+v", summary(d.last), want)
	}
}

// A saga parked as failed is reported in the decision that parks it; a
// resume clears the report and restarts the saga's SLO, and parking it
// again reports it again.
func TestFailedSagaIsReportedUntilResumed(t *testing.T) {
	d := run(t, parkedRefund...)
	got := stuckEvents(d.log)
	if len(got) != 1 || got[0].Reason != events.StuckFailed || !got[0].Since.Equal(d.s.UpdatedAt) || !d.s.StuckNow() {
		t.Fatalf("parked saga: SagaStuck %+v, stuck now %v", got, d.s.StuckNow())
	}
	d.now = d.now.Add(time.Hour)
	ignored("tick of a reported failed saga", func(*driver) saga.Input { return saga.Tick{} }).do(d)
	resume.do(d)
	if d.s.Stuck != "" || d.s.StuckNow() || !d.s.ResumedAt.Equal(d.now) {
		t.Fatalf("after resume: stuck %q now %v resumed at %s", d.s.Stuck, d.s.StuckNow(), d.s.ResumedAt)
	}
	if w := d.m.NextWake(d.s); !w.Equal(d.inFlight().Deadline) {
		t.Fatalf("after resume the saga wakes at %s, want its deadline: its SLO counts from the resume", w)
	}
	for range maxComp - 1 {
		fail("r").do(d)
		wake.do(d)
	}
	fail("r").do(d)
	if got := stuckEvents(d.log); d.s.Status != saga.StatusFailed || len(got) != 2 || got[1].Reason != events.StuckFailed {
		t.Fatalf("parked again: %s, SagaStuck %+v", d.s.Status, got)
	}
}

// A log written before the watchdog holds failed sagas without SagaStuck:
// the first tick reports them, and only the first.
func TestFailedSagaOfAnOldLogIsReported(t *testing.T) {
	d := run(t, parkedRefund...)
	old := d.log[:len(d.log)-1] // without the SagaStuck
	if old[len(old)-1].Type != events.SagaFailed {
		t.Fatalf("setup: the log ends with %s", old[len(old)-1].Type)
	}
	s := fold(t, machine, old)
	if !machine.Overdue(s, d.now) || !machine.NextWake(s).Equal(s.UpdatedAt) {
		t.Fatalf("an unreported failed saga is not overdue (next wake %s)", machine.NextWake(s))
	}
	out, err := machine.Decide(s, saga.Tick{}, d.now.Add(time.Minute))
	if err != nil || len(out) != 1 || out[0].Type != events.SagaStuck {
		t.Fatalf("tick emitted %v (err %v), want SagaStuck", summary(out), err)
	}
	s, err = machine.Apply(s, out[0])
	if err != nil || s.Stuck != events.StuckFailed || machine.Overdue(s, d.now.Add(time.Hour)) {
		t.Fatalf("after the report: stuck %q, err %v", s.Stuck, err)
	}
}

// Apply refuses a second report without a resume between, except that a
// saga reported slow is reported again when it is parked.
func TestApplyRefusesARepeatedReport(t *testing.T) {
	d := run(t, flat(start(flows.BookTicket, bookData), oks(1))...)
	report := func(s saga.State, reason string) (saga.State, error) {
		p := events.SagaStuckV1{Reason: reason, Since: t0}
		if reason == events.StuckSLO {
			p.SLO = "1m"
		}
		e := events.MustNew(events.SagaEventID(s.SagaID, s.Seq+1), events.SagaStuck, p,
			events.Trace{SagaID: s.SagaID, CorrelationID: s.BookingRef}, s.SagaID, d.now)
		return machine.Apply(s, e)
	}
	s, err := report(d.s, events.StuckSLO)
	if err != nil || s.Stuck != events.StuckSLO {
		t.Fatalf("first report: %v", err)
	}
	if _, err := report(s, events.StuckSLO); err == nil {
		t.Fatal("a second slo report applied")
	}
	if s, err = report(s, events.StuckFailed); err != nil || s.Stuck != events.StuckFailed {
		t.Fatalf("failed after slo: %v", err)
	}
	if _, err := report(s, events.StuckFailed); err == nil {
		t.Fatal("a second failed report applied")
	}
}

func TestWithSLOs(t *testing.T) {
	defs, err := flows.All().WithSLOs(map[string]time.Duration{"book-ticket": time.Minute, "book-ticket.ChargePayment": 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	book := defs[flows.BookTicket]
	if book.SagaSLO() != time.Minute || book.StepSLO(2) != 5*time.Second || book.StepSLO(1) != 63*time.Second {
		t.Errorf("SLOs %s %s %s", book.SagaSLO(), book.StepSLO(2), book.StepSLO(1))
	}
	if flows.All()[flows.BookTicket].Steps[2].SLO != 0 || defs[flows.CancelBooking].SLO != 0 {
		t.Error("WithSLOs changed definitions it was not asked to")
	}
	_, err = flows.All().WithSLOs(map[string]time.Duration{"nope": time.Second, "book-ticket.Nope": time.Second, "book-ticket": 0})
	for _, want := range []string{`no definition "nope"`, `has no step "Nope"`, "0s is not a positive duration"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to say %q", err, want)
		}
	}
}
