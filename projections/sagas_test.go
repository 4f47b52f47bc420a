package projections_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// ev is a compact expected timeline entry.
type ev struct {
	typ, step string
	at        time.Duration // since t0
}

func wantTimeline(t *testing.T, got []projections.EventView, want []ev) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("timeline has %d events, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i, w := range want {
		g := got[i]
		if g.Seq != i+1 || g.Type != w.typ || g.Step != w.step || !g.At.Equal(t0.Add(w.at)) {
			t.Errorf("event %d = {seq %d %s %q at %s}, want {seq %d %s %q at %s}",
				i, g.Seq, g.Type, g.Step, g.At.Format(time.RFC3339Nano), i+1, w.typ, w.step, t0.Add(w.at).Format(time.RFC3339Nano))
		}
	}
}

// st is a compact expected step view; times are offsets from t0, -1 for zero.
type st struct {
	name, status     string
	attempts, comps  int
	started, ended   time.Duration
	reasonSubstrings string
}

func wantSteps(t *testing.T, got []projections.StepView, want []st) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(got), len(want), got)
	}
	at := func(d time.Duration) time.Time {
		if d < 0 {
			return time.Time{}
		}
		return t0.Add(d)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Status != w.status || g.Attempts != w.attempts || g.CompensationTries != w.comps {
			t.Errorf("step %d = %s %s attempts %d (+%d undo), want %s %s attempts %d (+%d undo)",
				i, g.Name, g.Status, g.Attempts, g.CompensationTries, w.name, w.status, w.attempts, w.comps)
		}
		if !g.StartedAt.Equal(at(w.started)) || !g.EndedAt.Equal(at(w.ended)) {
			t.Errorf("step %s timings = %s .. %s, want %s .. %s", g.Name, g.StartedAt, g.EndedAt, at(w.started), at(w.ended))
		}
		if w.reasonSubstrings == "" && g.Reason != "" || !strings.Contains(g.Reason, w.reasonSubstrings) {
			t.Errorf("step %s reason = %q, want %q", g.Name, g.Reason, w.reasonSubstrings)
		}
	}
}

const s = time.Second

func TestSagasHappyBooking(t *testing.T) {
	r := startBooking(t, "happy", "alice", "show-1", 2, "tok_ok", t0).happy()
	p := fold(r.log)

	v := find(t, p, r.id())
	if v.SagaID != r.id() || v.BookingRef != events.BookingRefFor(r.id()) || v.Definition != flows.BookTicket ||
		v.Status != "completed" || v.Actor != "alice" || v.Reason != "" {
		t.Fatalf("view header = %+v", v)
	}
	if !v.StartedAt.Equal(t0) || !v.UpdatedAt.Equal(t0.Add(5*s)) {
		t.Errorf("started %s updated %s, want %s and %s", v.StartedAt, v.UpdatedAt, t0, t0.Add(5*s))
	}
	var d events.BookingData
	if err := json.Unmarshal(v.Data, &d); err != nil {
		t.Fatalf("data %s: %v", v.Data, err)
	}
	if d.BookingRef != v.BookingRef || d.UserID != "alice" || d.ShowID != "show-1" || d.Seats != 2 || d.AmountCents != 5000 || d.ChargeID != "ch_1" {
		t.Errorf("data = %+v, want the request merged with the step results", d)
	}
	wantSteps(t, v.Steps, []st{
		{"VerifyUser", "succeeded", 1, 0, 0, 1 * s, ""},
		{"ReserveSeats", "succeeded", 1, 0, 1 * s, 2 * s, ""},
		{"ChargePayment", "succeeded", 1, 0, 2 * s, 3 * s, ""},
		{"ConfirmBooking", "succeeded", 1, 0, 3 * s, 4 * s, ""},
		{"SendNotification", "succeeded", 1, 0, 4 * s, 5 * s, ""},
	})
	wantTimeline(t, v.Events, []ev{
		{"SagaStarted", "", 0}, {"StepStarted", "VerifyUser", 0},
		{"StepSucceeded", "VerifyUser", 1 * s}, {"StepStarted", "ReserveSeats", 1 * s},
		{"StepSucceeded", "ReserveSeats", 2 * s}, {"StepStarted", "ChargePayment", 2 * s},
		{"StepSucceeded", "ChargePayment", 3 * s}, {"StepStarted", "ConfirmBooking", 3 * s},
		{"StepSucceeded", "ConfirmBooking", 4 * s}, {"StepStarted", "SendNotification", 4 * s},
		{"StepSucceeded", "SendNotification", 5 * s}, {"SagaCompleted", "", 5 * s},
	})
	if st, ok := p.State(r.id()); !ok || st.Seq != 12 || st.Status != "completed" {
		t.Errorf("State = %+v, %v; want seq 12 completed", st, ok)
	}
}

// retried is a booking whose reservation is retried once, whose card is
// declined and whose release is retried once before it succeeds.
func retried(t *testing.T, key string, at time.Time) *sagaRun {
	r := startBooking(t, key, "bob", "show-1", 3, "tok_declined", at)
	r.after(s).ok("")        // VerifyUser
	r.after(s).retry("busy") // ReserveSeats attempt 1
	r.wake()                 // ReserveSeats attempt 2
	r.after(s).ok(`{"amount_cents":7500}`)
	r.after(s).fail("card declined") // ChargePayment: compensate
	r.after(s).retry("db down")      // ReleaseSeats attempt 1
	r.wake()                         // ReleaseSeats attempt 2
	r.after(s).ok("")
	return r
}

func TestSagasRetriesAndCompensation(t *testing.T) {
	r := retried(t, "declined", t0)
	p := fold(r.log)
	v := find(t, p, r.ref())
	if v.Status != "compensated" || v.Reason != "ChargePayment failed: card declined" {
		t.Fatalf("status %s reason %q, want compensated after the declined card", v.Status, v.Reason)
	}
	// The retry waits are computed by the machine; read them off the log.
	var retryStart, compRetryStart, end time.Duration
	for _, e := range r.log {
		var info struct {
			Step    string `json:"step"`
			Attempt int    `json:"attempt"`
		}
		_ = json.Unmarshal(e.Payload, &info)
		switch {
		case e.Type == events.StepStarted && info.Step == "ReserveSeats" && info.Attempt == 2:
			retryStart = e.OccurredAt.Sub(t0)
		case e.Type == events.CompensationStarted && info.Attempt == 2:
			compRetryStart = e.OccurredAt.Sub(t0)
		case e.Type == events.SagaCompensated:
			end = e.OccurredAt.Sub(t0)
		}
	}
	if retryStart <= 2*s || compRetryStart <= retryStart || end != compRetryStart+s {
		t.Fatalf("unexpected schedule: retry %s, compensation retry %s, end %s", retryStart, compRetryStart, end)
	}
	wantSteps(t, v.Steps, []st{
		{"VerifyUser", "succeeded", 1, 0, 0, 1 * s, ""},
		// Started at its first attempt, ended when its release succeeded.
		{"ReserveSeats", "compensated", 2, 2, 1 * s, end, ""},
		{"ChargePayment", "failed", 1, 0, retryStart + s, retryStart + 2*s, "card declined"},
		{"ConfirmBooking", "skipped", 0, 0, -1, -1, ""},
		{"SendNotification", "skipped", 0, 0, -1, -1, ""},
	})
	wantTimeline(t, v.Events, []ev{
		{"SagaStarted", "", 0}, {"StepStarted", "VerifyUser", 0},
		{"StepSucceeded", "VerifyUser", 1 * s}, {"StepStarted", "ReserveSeats", 1 * s},
		{"StepFailed", "ReserveSeats", 2 * s},
		{"StepStarted", "ReserveSeats", retryStart},
		{"StepSucceeded", "ReserveSeats", retryStart + s}, {"StepStarted", "ChargePayment", retryStart + s},
		{"StepFailed", "ChargePayment", retryStart + 2*s}, {"CompensationStarted", "ReserveSeats", retryStart + 2*s},
		{"CompensationFailed", "ReserveSeats", retryStart + 3*s},
		{"CompensationStarted", "ReserveSeats", compRetryStart},
		{"StepCompensated", "ReserveSeats", end}, {"SagaCompensated", "", end},
	})
}

func TestSagasTimeoutAndBlockedUser(t *testing.T) {
	// A blocked user: nothing to undo, every later step skipped.
	blocked := startBooking(t, "blocked", "mallory", "show-1", 1, "tok_ok", t0)
	blocked.after(s).fail("user mallory is blocked")
	// A reservation that times out every attempt: uncertain, so released.
	slow := startBooking(t, "slow", "alice", "show-1", 1, "tok_ok", t0.Add(time.Minute))
	slow.after(s).ok("")
	slow.wake().wake().wake().wake().wake() // timeout, retry, timeout, retry, timeout
	slow.after(s).ok("")                    // ReleaseSeats
	p := fold(blocked.log, slow.log)

	v := find(t, p, blocked.id())
	if v.Status != "compensated" || !strings.Contains(v.Reason, "VerifyUser failed: user mallory is blocked") {
		t.Fatalf("blocked: status %s reason %q", v.Status, v.Reason)
	}
	wantSteps(t, v.Steps, []st{
		{"VerifyUser", "failed", 1, 0, 0, 1 * s, "blocked"},
		{"ReserveSeats", "skipped", 0, 0, -1, -1, ""},
		{"ChargePayment", "skipped", 0, 0, -1, -1, ""},
		{"ConfirmBooking", "skipped", 0, 0, -1, -1, ""},
		{"SendNotification", "skipped", 0, 0, -1, -1, ""},
	})
	wantTimeline(t, v.Events, []ev{{"SagaStarted", "", 0}, {"StepStarted", "VerifyUser", 0},
		{"StepFailed", "VerifyUser", 1 * s}, {"SagaCompensated", "", 1 * s}})

	v = find(t, p, slow.ref())
	if v.Status != "compensated" || !strings.Contains(v.Reason, "ReserveSeats failed: no reply within") {
		t.Fatalf("slow: status %s reason %q", v.Status, v.Reason)
	}
	if got := v.Steps[1]; got.Status != "compensated" || got.Attempts != 3 || got.CompensationTries != 1 {
		t.Errorf("timed-out ReserveSeats = %+v, want compensated after 3 attempts and 1 release", got)
	}
	var types []string
	for _, e := range v.Events {
		types = append(types, e.Type)
	}
	if n := strings.Count(strings.Join(types, " "), "StepTimedOut"); n != 3 {
		t.Errorf("timeline has %d StepTimedOut, want 3: %v", n, types)
	}
}

func TestSagasFind(t *testing.T) {
	a := startBooking(t, "a", "alice", "show-1", 2, "tok_ok", t0).happy()
	b := startBooking(t, "b", "bob", "show-small", 1, "tok_ok", t0.Add(time.Minute))
	p := fold(a.log, b.log)

	for _, key := range []string{a.id(), a.ref()} {
		if v := find(t, p, key); v.SagaID != a.id() || v.Status != "completed" {
			t.Errorf("Find(%s) = %s %s, want saga a completed", key, v.SagaID, v.Status)
		}
	}
	for _, key := range []string{b.id(), b.ref()} {
		if v := find(t, p, key); v.SagaID != b.id() || v.Status != "running" || v.Steps[0].Status != "running" {
			t.Errorf("Find(%s) = %s %s, want saga b running its first step", key, v.SagaID, v.Status)
		}
	}
	for _, key := range []string{"", "nope", "BK-AAAAAAAA", uuid.NewString()} {
		if v, ok := p.Find(key); ok {
			t.Errorf("Find(%q) = %+v, want not found", key, v)
		}
		if _, ok := p.State(key); ok {
			t.Errorf("State(%q) found", key)
		}
	}
}

func TestSagasListOrderAndStatusFilter(t *testing.T) {
	completed := startBooking(t, "l-completed", "alice", "show-1", 2, "tok_ok", t0).happy()
	compensated := retried(t, "l-compensated", t0.Add(1*time.Minute))
	running := startBooking(t, "l-running", "alice", "show-1", 1, "tok_ok", t0.Add(2*time.Minute))
	running.after(s).ok("")
	// Declined card and a release that never succeeds: parked as failed.
	failed := startBooking(t, "l-failed", "bob", "show-1", 1, "tok_declined", t0.Add(3*time.Minute))
	failed.after(s).ok("").after(s).ok("").after(s).fail("card declined")
	failed.after(s).fail("db down")
	for range 4 {
		failed.wake().after(s).fail("db down")
	}
	compensating := startBooking(t, "l-compensating", "bob", "show-1", 1, "tok_declined", t0.Add(4*time.Minute))
	compensating.after(s).ok("").after(s).ok("").after(s).fail("card declined")
	blocked := startBooking(t, "l-blocked", "mallory", "show-1", 1, "tok_ok", t0.Add(5*time.Minute))
	blocked.after(s).fail("blocked")

	if failed.s.Status != "failed" || compensating.s.Status != "compensating" {
		t.Fatalf("setup: failed saga is %s, compensating saga is %s", failed.s.Status, compensating.s.Status)
	}
	all := []*sagaRun{completed, compensated, running, failed, compensating, blocked}

	// Feed the logs in an order unrelated to when the sagas started, as a
	// read of several partitions one after the other does.
	p := fold(blocked.log, running.log, compensated.log, compensating.log, failed.log, completed.log)

	want := func(rs ...*sagaRun) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.id())
		}
		return out
	}
	for _, tt := range []struct {
		status string
		want   []string
	}{
		{"", want(all...)},
		{"completed", want(completed)},
		{"compensated", want(compensated, blocked)},
		{"running", want(running)},
		{"failed", want(failed)},
		{"compensating", want(compensating)},
		{"nope", want()},
	} {
		got := p.List(tt.status)
		if got == nil {
			t.Errorf("List(%q) = nil, want an empty list (JSON [])", tt.status)
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("List(%q) = %v, want %v", tt.status, ids(got), tt.want)
		}
		for _, v := range got {
			if tt.status != "" && v.Status != tt.status {
				t.Errorf("List(%q) returned a %s saga", tt.status, v.Status)
			}
		}
	}

	// Interleaved feeding (round robin across the logs) gives the same list.
	q := projections.NewSagas(flows.All())
	for i := 0; ; i++ {
		fed := false
		for _, r := range all {
			if i < len(r.log) {
				q.Add(r.log[i])
				fed = true
			}
		}
		if !fed {
			break
		}
	}
	if !reflect.DeepEqual(q.List(""), p.List("")) {
		t.Errorf("interleaved feed lists %v, want %v", ids(q.List("")), ids(p.List("")))
	}
	if v := find(t, p, failed.id()); !strings.Contains(v.Reason, "compensation of ReserveSeats failed after 5 attempts") || v.Steps[1].CompensationTries != 5 {
		t.Errorf("failed saga reason %q, ReserveSeats %+v", v.Reason, v.Steps[1])
	}
}

// TestSagasDuplicatesAndOutOfSequenceAreSkipped feeds the same log with
// redeliveries and events from the future: the view is the clean one.
func TestSagasDuplicatesAndOutOfSequenceAreSkipped(t *testing.T) {
	a := retried(t, "dup-a", t0)
	b := startBooking(t, "dup-b", "alice", "show-1", 2, "tok_ok", t0.Add(time.Minute)).happy()
	clean := fold(a.log, b.log)

	check := func(name string, p *projections.Sagas) {
		t.Helper()
		for _, r := range []*sagaRun{a, b} {
			if got, want := find(t, p, r.id()), find(t, clean, r.id()); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: view of %s differs from the clean fold:\n got %+v\nwant %+v", name, r.id(), got, want)
			}
			gs, _ := p.State(r.id())
			ws, _ := clean.State(r.id())
			if !reflect.DeepEqual(gs, ws) {
				t.Errorf("%s: state of %s differs from the clean fold", name, r.id())
			}
		}
		if !reflect.DeepEqual(p.List(""), clean.List("")) {
			t.Errorf("%s: List differs: %v vs %v", name, ids(p.List("")), ids(clean.List("")))
		}
		if n := len(p.ByRef(a.ref())); n != 1 {
			t.Errorf("%s: ByRef(%s) has %d sagas, want 1", name, a.ref(), n)
		}
	}

	// Every envelope added twice in a row (a retried append).
	twice := projections.NewSagas(flows.All())
	for _, log := range [][]events.Envelope{a.log, b.log} {
		for _, e := range log {
			twice.Add(e)
			twice.Add(e)
		}
	}
	check("each event twice", twice)

	// The whole log read twice (a second pass over the topic).
	check("log twice", fold(a.log, b.log, a.log, b.log))

	// Random redeliveries of earlier events and early arrivals of later
	// ones, between the events of the log in order.
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 50 {
		p := projections.NewSagas(flows.All())
		for _, log := range [][]events.Envelope{a.log, b.log} {
			for i, e := range log {
				for range rng.IntN(3) {
					// An earlier event is a duplicate, a later one out of sequence.
					if j := rng.IntN(len(log)); j != i {
						p.Add(log[j])
					}
				}
				p.Add(e)
			}
		}
		check(fmt.Sprintf("random redelivery round %d", round), p)
	}
}

func TestSagasStopsAtAGap(t *testing.T) {
	r := startBooking(t, "gap", "alice", "show-1", 2, "tok_ok", t0).happy()
	// Events 1, 2 then 4 onwards: 3 is missing, so nothing after it fits.
	p := fold(r.log[:2], r.log[3:])
	v := find(t, p, r.id())
	if v.Status != "running" || len(v.Events) != 2 || v.Steps[0].Status != "running" {
		t.Fatalf("after a gap: status %s, %d events, first step %s; want the view of events 1-2", v.Status, len(v.Events), v.Steps[0].Status)
	}
	if want := find(t, fold(r.log[:2]), r.id()); !reflect.DeepEqual(v, want) {
		t.Errorf("view after a gap = %+v, want the view of events 1-2 %+v", v, want)
	}
	// The missing event arrives late: the rest follows when redelivered.
	p.Add(r.log[2])
	for _, e := range r.log[3:] {
		p.Add(e)
	}
	if v := find(t, p, r.id()); v.Status != "completed" || len(v.Events) != len(r.log) {
		t.Errorf("after the gap is filled: status %s with %d events", v.Status, len(v.Events))
	}
}

func TestSagasSkipsEventsThatDoNotFit(t *testing.T) {
	r := startBooking(t, "misfit", "alice", "show-1", 2, "tok_ok", t0).happy()
	p := projections.NewSagas(flows.All())

	// A step event of a saga whose start is not in the log.
	orphan := r.log[1]
	p.Add(orphan)
	if _, ok := p.Find(r.id()); ok || len(p.List("")) != 0 {
		t.Fatalf("an event before SagaStarted made a saga")
	}

	p.Add(r.log[0])
	p.Add(r.log[1])
	// An event with the right sequence number but a step the definition
	// does not have: Apply refuses it, so it is skipped.
	bad := events.MustNew(events.SagaEventID(r.id(), 3), events.StepSucceeded,
		events.StepSucceededV1{StepV1: events.StepV1{Step: "NoSuchStep", Attempt: 1}},
		events.Trace{SagaID: r.id(), CorrelationID: r.ref()}, r.id(), t0.Add(time.Hour))
	p.Add(bad)
	// An event whose id is not the derived one for its place in the log.
	forged := r.log[2]
	forged.ID = uuid.NewString()
	p.Add(forged)
	if v := find(t, p, r.id()); len(v.Events) != 2 {
		t.Fatalf("misfits were folded: %+v", v.Events)
	}
	for _, e := range r.log[2:] {
		p.Add(e)
	}
	if got, want := find(t, p, r.id()), find(t, fold(r.log), r.id()); !reflect.DeepEqual(got, want) {
		t.Errorf("view after misfits differs from the clean one:\n got %+v\nwant %+v", got, want)
	}
}

func TestSagasByRefBookingAndCancellation(t *testing.T) {
	book := startBooking(t, "to-cancel", "alice", "show-1", 2, "tok_ok", t0).happy()
	cancel := startCancel(t, book.ref(), "alice", "show-1", 2, t0.Add(time.Hour))
	cancel.after(s).ok("").after(s).ok("").after(s).ok("")
	other := startBooking(t, "other", "bob", "show-1", 1, "tok_ok", t0.Add(30*time.Minute)).happy()
	if cancel.s.Status != "completed" || cancel.ref() != book.ref() {
		t.Fatalf("setup: cancel saga %s for %s", cancel.s.Status, cancel.ref())
	}

	p := fold(book.log, other.log, cancel.log)
	checkByRef(t, p, book, cancel, other)
}

// TestSagasByRefOrderDoesNotDependOnReadOrder reads the cancellation's log
// before the booking's, as client.Sagas does whenever the cancel saga's
// partition comes before the booking saga's (bus.ReadAll reads partition 0
// to the end, then partition 1, ...). ByRef must still be oldest first and
// Find(ref) the latest saga, i.e. the cancellation.
func TestSagasByRefOrderDoesNotDependOnReadOrder(t *testing.T) {
	book := startBooking(t, "to-cancel", "alice", "show-1", 2, "tok_ok", t0).happy()
	cancel := startCancel(t, book.ref(), "alice", "show-1", 2, t0.Add(time.Hour))
	cancel.after(s).ok("").after(s).ok("").after(s).ok("")
	other := startBooking(t, "other", "bob", "show-1", 1, "tok_ok", t0.Add(30*time.Minute)).happy()

	p := fold(cancel.log, other.log, book.log)
	checkByRef(t, p, book, cancel, other)
}

func checkByRef(t *testing.T, p *projections.Sagas, book, cancel, other *sagaRun) {
	t.Helper()
	got := p.ByRef(book.ref())
	if want := []string{book.id(), cancel.id()}; !reflect.DeepEqual(ids(got), want) {
		t.Errorf("ByRef(%s) = %v, want [booking cancellation] %v", book.ref(), ids(got), want)
	} else if got[0].Definition != flows.BookTicket || got[1].Definition != flows.CancelBooking {
		t.Errorf("ByRef definitions = %s, %s", got[0].Definition, got[1].Definition)
	}
	if v := find(t, p, book.ref()); v.SagaID != cancel.id() || v.Definition != flows.CancelBooking {
		t.Errorf("Find(ref) = %s (%s), want the latest saga of the booking: the cancellation %s", v.SagaID, v.Definition, cancel.id())
	}
	if v := find(t, p, book.id()); v.Definition != flows.BookTicket || v.Status != "completed" {
		t.Errorf("Find(booking saga id) = %s %s", v.Definition, v.Status)
	}
	if v := find(t, p, cancel.id()); v.Definition != flows.CancelBooking || v.Status != "completed" {
		t.Errorf("Find(cancel saga id) = %s %s", v.Definition, v.Status)
	} else {
		wantSteps(t, v.Steps, []st{
			{"RefundPayment", "succeeded", 1, 0, time.Hour, time.Hour + s, ""},
			{"ReleaseSeats", "succeeded", 1, 0, time.Hour + s, time.Hour + 2*s, ""},
			{"NotifyCancelled", "succeeded", 1, 0, time.Hour + 2*s, time.Hour + 3*s, ""},
		})
	}
	if got := p.ByRef(other.ref()); len(got) != 1 || got[0].SagaID != other.id() {
		t.Errorf("ByRef(other) = %v", ids(got))
	}
	if got := p.ByRef("BK-NOPE"); len(got) != 0 {
		t.Errorf("ByRef(unknown) = %v", ids(got))
	}
	if got, want := ids(p.List("")), []string{book.id(), other.id(), cancel.id()}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %v, want by start time %v", got, want)
	}
}

// TestSagaViewJSON pins the field names `saga inspect -o json` prints.
func TestSagaViewJSON(t *testing.T) {
	r := retried(t, "json", t0)
	raw, err := json.Marshal(find(t, fold(r.log), r.id()))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		SagaID     string `json:"saga_id"`
		BookingRef string `json:"booking_ref"`
		Definition string `json:"definition"`
		Status     string `json:"status"`
		Actor      string `json:"actor"`
		Reason     string `json:"reason"`
		Steps      []map[string]any
		Events     []map[string]any
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.SagaID != r.id() || m.BookingRef != r.ref() || m.Definition != flows.BookTicket || m.Status != "compensated" || m.Actor != "bob" || m.Reason == "" {
		t.Errorf("JSON header = %+v", m)
	}
	if len(m.Steps) != 5 || m.Steps[1]["name"] != "ReserveSeats" || m.Steps[1]["status"] != "compensated" ||
		m.Steps[1]["attempts"] != 2.0 || m.Steps[1]["compensation_attempts"] != 2.0 {
		t.Errorf("JSON steps = %v", m.Steps)
	}
	if len(m.Events) != len(r.log) || m.Events[0]["seq"] != 1.0 || m.Events[0]["type"] != "SagaStarted" || m.Events[0]["at"] == nil ||
		m.Events[1]["step"] != "VerifyUser" {
		t.Errorf("JSON events = %v", m.Events)
	}
	if _, has := m.Events[0]["step"]; has {
		t.Errorf("SagaStarted has a step in JSON: %v", m.Events[0])
	}
}

// TestSagaViewsAreSnapshots makes sure a view handed out is not changed by
// later events nor changes the projection when a caller edits it.
func TestSagaViewsAreSnapshots(t *testing.T) {
	r := startBooking(t, "snap", "alice", "show-1", 2, "tok_ok", t0).happy()
	p := fold(r.log[:4])
	v := find(t, p, r.id())
	n, status := len(v.Events), v.Steps[1].Status
	for _, e := range r.log[4:] {
		p.Add(e)
	}
	if len(v.Events) != n || v.Steps[1].Status != status {
		t.Errorf("a view taken earlier changed with later events")
	}
	w := find(t, p, r.id())
	w.Events[0].Type = "Edited"
	w.Steps[0].Status = "edited"
	if again := find(t, p, r.id()); again.Events[0].Type != string(events.SagaStarted) || again.Steps[0].Status != "succeeded" {
		t.Errorf("editing a view changed the projection")
	}
}
