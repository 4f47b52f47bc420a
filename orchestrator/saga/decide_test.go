package saga_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func TestStartEmitsSagaStartedAndFirstStep(t *testing.T) {
	in := startFor(flows.BookTicket, idemKey, bookData)
	out, err := machine.Decide(saga.State{}, in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(out); !reflect.DeepEqual(got, lines(startBook)) {
		t.Fatalf("Start emitted %v", got)
	}
	sagaID := events.SagaIDFor(idemKey)
	started := events.MustDecode[events.SagaStartedV1](out[0])
	asked := events.StartSagaV1{Definition: started.Definition, IdempotencyKey: started.IdempotencyKey, BookingRef: started.BookingRef, Data: started.Data}
	if !reflect.DeepEqual(asked, in.Payload) {
		t.Errorf("SagaStarted payload %+v, want the request %+v", started, in.Payload)
	}
	step := events.MustDecode[events.StepStartedV1](out[1])
	want := events.StepStartedV1{StepV1: events.StepV1{Step: "VerifyUser", Attempt: 1},
		CommandID: events.CommandID(sagaID, "VerifyUser", false, 1), Command: events.VerifyUser, Deadline: t0.Add(stepTO)}
	if !reflect.DeepEqual(step, want) {
		t.Errorf("StepStarted = %+v\nwant %+v", step, want)
	}
	for _, e := range out {
		if e.SagaID != sagaID || e.CausationID != in.Request.ID || e.CorrelationID != in.Payload.BookingRef || e.Actor != actor {
			t.Errorf("%s trace: saga %s causation %s correlation %s actor %s", e.Type, e.SagaID, e.CausationID, e.CorrelationID, e.Actor)
		}
	}

	d := run(t, start(flows.BookTicket, bookData))
	s := d.s
	if s.SagaID != sagaID || s.Definition != flows.BookTicket || s.IdempotencyKey != idemKey ||
		s.BookingRef != events.BookingRefFor(sagaID) || s.Actor != actor || s.Status != saga.StatusRunning ||
		!s.StartedAt.Equal(t0) || s.Seq != 2 {
		t.Errorf("state after start: %+v", s)
	}
	if got := field(t, s.Data, "booking_ref"); got != s.BookingRef {
		t.Errorf("data booking_ref = %v, want %s (merged from the request)", got, s.BookingRef)
	}
	if got := field(t, s.Data, "seats"); got != 2.0 {
		t.Errorf("data seats = %v", got)
	}
	vu := s.Steps[0]
	if vu.Status != saga.StepRunning || vu.Attempt != 1 || vu.CommandID != want.CommandID || !vu.Deadline.Equal(want.Deadline) || !vu.StartedAt.Equal(t0) {
		t.Errorf("VerifyUser after start: %+v", vu)
	}
	if !s.NextWake().Equal(t0.Add(stepTO)) {
		t.Errorf("NextWake = %s, want the deadline", s.NextWake())
	}
}

func TestStartRejectsMalformedRequests(t *testing.T) {
	with := func(def, data string, edit func(*saga.Start)) saga.Start {
		in := startFor(def, idemKey, data)
		if edit != nil {
			edit(&in)
		}
		return in
	}
	tests := []struct {
		name string
		in   saga.Start
		want string
	}{
		{"unknown definition", with("book-a-flight", bookData, nil), "unknown saga definition"},
		{"no seats", with(flows.BookTicket, `{"user_id":"u","show_id":"s","seats":0,"payment_token":"t"}`, nil), "seats"},
		{"too many seats", with(flows.BookTicket, `{"user_id":"u","show_id":"s","seats":11,"payment_token":"t"}`, nil), "seats"},
		{"no payment token", with(flows.BookTicket, `{"user_id":"u","show_id":"s","seats":1}`, nil), "payment_token"},
		{"no user", with(flows.BookTicket, `{"show_id":"s","seats":1,"payment_token":"t"}`, nil), "user_id"},
		{"no show", with(flows.BookTicket, `{"user_id":"u","seats":1,"payment_token":"t"}`, nil), "show_id"},
		{"seats of the wrong type", with(flows.BookTicket, `{"user_id":"u","show_id":"s","seats":"2","payment_token":"t"}`, nil), "seats"},
		{"cancel without booking ref", with(flows.CancelBooking, `{"show_id":"s","seats":1}`, nil), "booking_ref"},
		{"saga_id header of another key", with(flows.BookTicket, bookData, func(in *saga.Start) {
			in.Request.SagaID = events.SagaIDFor("another key")
		}), "does not match the idempotency key"},
		{"booking ref of another saga", with(flows.BookTicket, bookData, func(in *saga.Start) {
			in.Payload.BookingRef = "BK-AAAAAAAA"
		}), "is not the one of saga"},
		{"no idempotency key", with(flows.BookTicket, bookData, func(in *saga.Start) {
			in.Payload.IdempotencyKey, in.Request.SagaID = "", ""
		}), "idempotency_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := machine.Decide(saga.State{}, tc.in, t0)
			if !errors.Is(err, events.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
			if len(out) != 0 {
				t.Errorf("emitted %v with the error", summary(out))
			}
		})
	}
	t.Run("request without saga_id header is accepted", func(t *testing.T) {
		in := startFor(flows.BookTicket, idemKey, bookData)
		in.Request.SagaID = ""
		if out, err := machine.Decide(saga.State{}, in, t0); err != nil || len(out) != 2 {
			t.Fatalf("Decide = %v, %v", summary(out), err)
		}
	})
}

func TestInputsBeforeStartAreIgnoredOrRefused(t *testing.T) {
	if out, err := machine.Decide(saga.State{}, saga.Tick{}, t0); err != nil || len(out) != 0 {
		t.Errorf("Decide(State{}, Tick) = %v, %v; want nothing", summary(out), err)
	}
	// A reply to a saga that has not started answers no command it sent.
	r := replyFor(saga.State{}, events.CommandID(events.SagaIDFor(idemKey), "VerifyUser", false, 1), events.VerifyUser, events.OutcomeSucceeded, "", "", t0)
	out, err := machine.Decide(saga.State{}, r, t0)
	var re *events.RefusedError
	if !errors.As(err, &re) || re.Code != events.RefusedUnknownCommand || len(out) != 0 {
		t.Errorf("Decide(State{}, Reply) = %v, %v; want it refused as %s", summary(out), err, events.RefusedUnknownCommand)
	}
	if _, err := machine.Decide(saga.State{}, nil, t0); err == nil {
		t.Error("Decide(nil input) did not fail")
	}
}

// TestCommands checks every command a saga asks for: topic, key, id, trace
// and the saga data, which carries what earlier steps returned; the
// payment token goes to the charge alone.
func TestCommands(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData), ok(`{"verified":true}`), ok(`{"amount_cents":5000}`),
		ok(`{"charge_id":"ch_1"}`), fail("show cancelled"), ok(`{"refund_id":"rf_1"}`), ok(""))
	ref := d.s.BookingRef
	type want struct {
		topic, key string
		typ        events.Type
		step       string
		attempt    int
		comp       bool
		fields     map[string]any
	}
	wants := []want{
		{"user.commands", "u-1", events.VerifyUser, "VerifyUser", 1, false, map[string]any{"user_id": "u-1", "booking_ref": ref, "seats": 2.0, "payment_token": nil}},
		{"booking.commands", "show-7", events.ReserveSeats, "ReserveSeats", 1, false, map[string]any{"verified": true, "show_id": "show-7", "payment_token": nil}},
		{"payment.commands", ref, events.ChargePayment, "ChargePayment", 1, false, map[string]any{"amount_cents": 5000.0, "payment_token": "tok_visa"}},
		{"booking.commands", "show-7", events.ConfirmBooking, "ConfirmBooking", 1, false, map[string]any{"charge_id": "ch_1", "amount_cents": 5000.0, "payment_token": nil}},
		{"payment.commands", ref, events.RefundPayment, "ChargePayment", 1, true, map[string]any{"charge_id": "ch_1", "amount_cents": 5000.0, "payment_token": nil}},
		{"booking.commands", "show-7", events.ReleaseSeats, "ReserveSeats", 1, true, map[string]any{"charge_id": "ch_1", "seats": 2.0, "payment_token": nil}},
	}
	// Rebuild the state right after each start event, as the runtime does.
	var s saga.State
	n := 0
	for _, e := range d.log {
		var err error
		if s, err = machine.Apply(s, e); err != nil {
			t.Fatal(err)
		}
		o, isCmd := machine.Command(s, e)
		if !isCmd {
			continue
		}
		if n >= len(wants) {
			t.Fatalf("unexpected command %s", o.Envelope.Type)
		}
		w := wants[n]
		n++
		info := infoOf(e)
		env := o.Envelope
		if o.Topic != w.topic || env.Key != w.key || env.Type != w.typ {
			t.Errorf("%s: topic %s key %s type %s, want %s %s %s", w.step, o.Topic, env.Key, env.Type, w.topic, w.key, w.typ)
		}
		if env.ID != info.ID || env.ID != events.CommandID(s.SagaID, w.step, w.comp, w.attempt) {
			t.Errorf("%s: command id %s, event says %s", w.step, env.ID, info.ID)
		}
		if env.SagaID != s.SagaID || env.CorrelationID != ref || env.CausationID != e.ID || env.Actor != actor || !env.OccurredAt.Equal(e.OccurredAt) {
			t.Errorf("%s: trace %+v", w.step, env)
		}
		p := commandOf(t, o)
		if p.Step != w.step || p.Attempt != w.attempt || p.Compensation != w.comp {
			t.Errorf("%s: payload %+v", w.step, p)
		}
		for k, v := range w.fields {
			if got := field(t, p.Data, k); got != v {
				t.Errorf("%s: data %s = %v, want %v (data %s)", w.step, k, got, v, p.Data)
			}
		}
	}
	if n != len(wants) {
		t.Errorf("%d commands, want %d", n, len(wants))
	}
	if _, isCmd := machine.Command(d.s, d.log[0]); isCmd {
		t.Error("Command(SagaStarted) returned a command")
	}
	if got := field(t, d.s.Data, "amount_cents"); got != 5000.0 {
		t.Errorf("State.Data amount_cents = %v", got)
	}
}

// TestResultsOverrideData: a later result sets the fields it names over the
// data so far; the request's booking reference wins over the data's.
func TestResultsOverrideData(t *testing.T) {
	forged := act{"start", func(d *driver) {
		in := startFor(flows.BookTicket, idemKey, `{"booking_ref":"BK-FORGED","user_id":"u-1","show_id":"show-7","seats":2,"payment_token":"tok"}`)
		in.Payload.BookingRef = events.BookingRefFor(events.SagaIDFor(idemKey))
		d.feed(in)
	}}
	d := run(t, forged, ok(""), ok(`{"amount_cents":5000,"seats":3}`), ok(`{"amount_cents":4500}`))
	real := events.BookingRefFor(events.SagaIDFor(idemKey))
	if got := field(t, d.s.Data, "booking_ref"); got != real || d.s.BookingRef != real {
		t.Errorf("booking_ref = %v, want the request's %s", got, d.s.BookingRef)
	}
	o := machine.InFlight(d.s, d.now)[0]
	p := commandOf(t, o)
	if field(t, p.Data, "amount_cents") != 4500.0 || field(t, p.Data, "seats") != 3.0 || field(t, p.Data, "payment_token") != nil {
		t.Errorf("ConfirmBooking data %s", p.Data)
	}
}

func TestCommandKeys(t *testing.T) {
	// A definition of its own: the key is the KeyField's string value in
	// the saga data as it stands, else the saga id.
	pol := saga.RetryPolicy{MaxAttempts: 1}
	def := saga.Definition{Name: "keys", CompensationRetry: pol, Steps: []saga.Step{
		{Name: "A", Service: "svc", Command: events.VerifyUser, KeyField: "tenant", Timeout: time.Second, Retry: pol},
		{Name: "B", Service: "svc", Command: events.VerifyUser, KeyField: "count", Timeout: time.Second, Retry: pol},
		{Name: "C", Service: "other", Command: events.VerifyUser, KeyField: "tenant", Timeout: time.Second, Retry: pol},
		{Name: "D", Service: "other", Command: events.VerifyUser, Timeout: time.Second, Retry: pol},
	}}
	defs, err := saga.NewDefinitions(def)
	if err != nil {
		t.Fatal(err)
	}
	d := newDriver(t)
	d.m = saga.NewMachine(defs)
	var keys []string
	for _, a := range []act{start("keys", `{"count":3}`), ok(`{"tenant":"t-9"}`), ok(""), ok(""), ok("")} {
		if st, busy := inFlightStep(d.s); busy && st.Name == "D" {
			// InFlight builds the same command as Command did.
			if got := d.m.InFlight(d.s, d.now); len(got) != 1 || got[0].Envelope.Key != d.s.SagaID || got[0].Topic != "other.commands" {
				t.Errorf("InFlight for D: %+v", got)
			}
		}
		a.do(d)
		for _, e := range d.last {
			if o, isCmd := d.m.Command(d.s, e); isCmd {
				keys = append(keys, o.Topic+" "+o.Envelope.Key)
			}
		}
	}
	sid := d.s.SagaID
	want := []string{"svc.commands " + sid, "svc.commands " + sid, "other.commands t-9", "other.commands " + sid}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %v\nwant %v", keys, want)
	}
	if d.s.Status != saga.StatusCompleted {
		t.Errorf("status %s", d.s.Status)
	}
	// RefundPayment of cancel-booking is keyed by the booking being cancelled.
	d = run(t, start(flows.CancelBooking, cancelData))
	if out := machine.InFlight(d.s, d.now); len(out) != 1 || out[0].Envelope.Key != "BK-OLD" || out[0].Topic != "payment.commands" {
		t.Errorf("RefundPayment: %+v", out)
	}
}

func TestRetryTiming(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData), ok(""))
	first := d.inFlight().CommandID
	d.now = t0.Add(time.Second)
	d.feed(d.replyTo(events.OutcomeRetryable, "lock timeout", ""))
	failed := events.MustDecode[events.StepFailedV1](d.last[0])
	policy := flows.BookTicketDefinition().Steps[1].Retry
	wantAt := d.now.Add(policy.Delay(1, d.s.SagaID+"ReserveSeats"))
	if !failed.RetryAt.Equal(wantAt) || failed.Reason != "lock timeout" {
		t.Fatalf("StepFailed = %+v, want retry at %s", failed, wantAt)
	}
	if wait := failed.RetryAt.Sub(d.now); wait <= 400*time.Millisecond || wait > 500*time.Millisecond {
		t.Errorf("first retry after %s, want the 500ms backoff less at most 20%%", wait)
	}
	st := d.s.Steps[1]
	if st.Status != saga.StepRunning || st.CommandID != "" || !st.RetryAt.Equal(wantAt) || st.Reason != "lock timeout" {
		t.Errorf("ReserveSeats waiting: %+v", st)
	}
	if !d.s.NextWake().Equal(wantAt) || len(machine.InFlight(d.s, d.now)) != 0 {
		t.Errorf("NextWake %s, in flight %d", d.s.NextWake(), len(machine.InFlight(d.s, d.now)))
	}

	d.now = wantAt.Add(-time.Nanosecond)
	if out := d.feed(saga.Tick{}); len(out) != 0 {
		t.Fatalf("tick before RetryAt emitted %v", summary(out))
	}
	d.now = wantAt
	out := d.feed(saga.Tick{})
	if got := summary(out); len(got) != 1 || got[0] != "StepStarted ReserveSeats 2" {
		t.Fatalf("tick at RetryAt: %v", got)
	}
	again := events.MustDecode[events.StepStartedV1](out[0])
	if again.CommandID != events.CommandID(d.s.SagaID, "ReserveSeats", false, 2) || again.CommandID == first {
		t.Errorf("attempt 2 command id %s (attempt 1 was %s)", again.CommandID, first)
	}
	if !again.Deadline.Equal(wantAt.Add(stepTO)) {
		t.Errorf("attempt 2 deadline %s", again.Deadline)
	}
	if st := d.s.Steps[1]; !st.RetryAt.IsZero() || !st.StartedAt.Equal(t0) || st.Attempt != 2 {
		t.Errorf("after retry start: %+v", st)
	}

	// The second wait doubles, the third attempt is the last.
	d.feed(d.replyTo(events.OutcomeRetryable, "again", ""))
	second := events.MustDecode[events.StepFailedV1](d.last[0]).RetryAt.Sub(d.now)
	if second <= 800*time.Millisecond || second > time.Second {
		t.Errorf("second retry after %s, want 1s less at most 20%%", second)
	}
	wake.do(d)
	d.feed(d.replyTo(events.OutcomeRetryable, "still", ""))
	last := events.MustDecode[events.StepFailedV1](d.last[0])
	if !last.RetryAt.IsZero() || last.Attempt != maxAttempt {
		t.Errorf("attempt %d failed with retry at %s, want no retry after MaxAttempts", last.Attempt, last.RetryAt)
	}
	if d.s.Status != saga.StatusCompensated || !strings.Contains(d.s.Reason, "ReserveSeats") || !strings.Contains(d.s.Reason, "still") {
		t.Errorf("status %s reason %q", d.s.Status, d.s.Reason)
	}
}

func TestTimeoutTiming(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData), ok(""), ok(""))
	deadline := d.inFlight().Deadline
	d.now = deadline.Add(-time.Nanosecond)
	if out := d.feed(saga.Tick{}); len(out) != 0 {
		t.Fatalf("tick before the deadline emitted %v", summary(out))
	}
	d.now = deadline.Add(3 * time.Second) // a late tick still times the step out
	out := d.feed(saga.Tick{})
	if got := summary(out); len(got) != 1 || got[0] != "StepTimedOut ChargePayment 1 retry" {
		t.Fatalf("tick after the deadline: %v", got)
	}
	p := events.MustDecode[events.StepFailedV1](out[0])
	if !strings.Contains(p.Reason, "10s") || !p.RetryAt.After(d.now) {
		t.Errorf("StepTimedOut = %+v", p)
	}
	st := d.s.Steps[2]
	if !st.Uncertain || st.CommandID != "" || !st.Deadline.IsZero() || st.Status != saga.StepRunning {
		t.Errorf("ChargePayment after a timeout: %+v", st)
	}
	// A reply to the timed-out attempt is late: ignored.
	late := replyFor(d.s, events.CommandID(d.s.SagaID, "ChargePayment", false, 1), events.ChargePayment, events.OutcomeSucceeded, "", "", d.now)
	if out := d.feed(late); len(out) != 0 {
		t.Errorf("reply to a timed-out attempt: %v", summary(out))
	}
	wake.do(d)
	ok("").do(d)
	if st := d.s.Steps[2]; st.Uncertain || st.Status != saga.StepSucceeded || st.Attempt != 2 {
		t.Errorf("ChargePayment after success on attempt 2: %+v", st)
	}
}

func TestCompensationRetry(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData), ok(""), ok(""), fail("declined"))
	if got := d.inFlight(); got.CommandID != events.CommandID(d.s.SagaID, "ReserveSeats", true, 1) || got.CompAttempt != 1 || got.Attempt != 1 {
		t.Fatalf("release in flight: %+v", got)
	}
	if d.s.Status != saga.StatusCompensating || !strings.Contains(d.s.Reason, "ChargePayment failed: declined") {
		t.Errorf("status %s reason %q", d.s.Status, d.s.Reason)
	}
	d.feed(d.replyTo(events.OutcomeRetryable, "db down", ""))
	p := events.MustDecode[events.StepFailedV1](d.last[0])
	policy := flows.BookTicketDefinition().CompensationRetry
	if want := d.now.Add(policy.Delay(1, d.s.SagaID+"ReserveSeats"+"undo")); d.last[0].Type != events.CompensationFailed || !p.RetryAt.Equal(want) {
		t.Fatalf("%s retry at %s, want CompensationFailed retry at %s", d.last[0].Type, p.RetryAt, want)
	}
	if st := d.s.Steps[1]; st.Status != saga.StepCompensating || st.CommandID != "" || st.RetryAt.IsZero() {
		t.Errorf("ReserveSeats waiting for its compensation retry: %+v", st)
	}
	d.now = p.RetryAt.Add(-time.Millisecond)
	if out := d.feed(saga.Tick{}); len(out) != 0 {
		t.Fatalf("tick before the retry: %v", summary(out))
	}
	wake.do(d)
	s2 := events.MustDecode[events.StepStartedV1](d.last[0])
	if d.last[0].Type != events.CompensationStarted || s2.Attempt != 2 ||
		s2.CommandID != events.CommandID(d.s.SagaID, "ReserveSeats", true, 2) || s2.Command != events.ReleaseSeats {
		t.Fatalf("after wake: %s %+v", d.last[0].Type, s2)
	}
	ok("").do(d)
	if d.s.Status != saga.StatusCompensated || d.s.Steps[1].Status != saga.StepCompensatedS {
		t.Errorf("final: %s %s", d.s.Status, statuses(d.s))
	}
}

func TestCompensationGivesUp(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData), ok(""), ok(""), fail("declined"))
	for i := 1; i < maxComp; i++ {
		fail("boom").do(d)
		wake.do(d)
	}
	timeout.do(d) // the last attempt times out: that counts as a failure
	if got := summary(d.last); !reflect.DeepEqual(got, []string{"CompensationFailed ReserveSeats 5", "SagaFailed", "SagaStuck failed"}) {
		t.Fatalf("last attempt: %v", got)
	}
	if d.s.Status != saga.StatusFailed || !strings.Contains(d.s.Reason, "ReserveSeats") || !strings.Contains(d.s.Reason, "5 attempts") {
		t.Errorf("status %s reason %q", d.s.Status, d.s.Reason)
	}
	if !d.s.NextWake().IsZero() || len(machine.InFlight(d.s, d.now)) != 0 {
		t.Errorf("a failed saga wakes at %s", d.s.NextWake())
	}
	for _, in := range []saga.Input{saga.Tick{}, replyFor(d.s, events.CommandID(d.s.SagaID, "ReserveSeats", true, 5), events.ReleaseSeats, events.OutcomeSucceeded, "", "", d.now)} {
		if out, err := machine.Decide(d.s, in, d.now.Add(time.Hour)); err != nil || len(out) != 0 {
			t.Errorf("failed saga reacted to %T: %v %v", in, summary(out), err)
		}
	}
}

func TestInFlight(t *testing.T) {
	d := newDriver(t)
	if got := machine.InFlight(saga.State{}, t0); len(got) != 0 {
		t.Errorf("InFlight(State{}) = %v", got)
	}
	check := func(what string, wantType events.Type, comp bool) {
		t.Helper()
		got := machine.InFlight(d.s, d.now.Add(time.Minute))
		if wantType == "" {
			if len(got) != 0 {
				t.Errorf("%s: InFlight = %d commands, want none", what, len(got))
			}
			return
		}
		var started events.Envelope
		for _, e := range d.log {
			if e.Type == events.StepStarted || e.Type == events.CompensationStarted {
				started = e
			}
		}
		orig, _ := machine.Command(d.s, started)
		if len(got) != 1 {
			t.Fatalf("%s: InFlight = %d commands, want 1", what, len(got))
		}
		o := got[0]
		if o.Envelope.ID != orig.Envelope.ID || o.Envelope.Type != wantType || o.Topic != orig.Topic || o.Envelope.Key != orig.Envelope.Key ||
			string(o.Envelope.Payload) != string(orig.Envelope.Payload) {
			t.Errorf("%s: InFlight %+v\nwant the original %+v", what, o, orig)
		}
		if p := commandOf(t, o); p.Compensation != comp {
			t.Errorf("%s: compensation = %v", what, p.Compensation)
		}
		if !o.Envelope.OccurredAt.Equal(d.now.Add(time.Minute)) {
			t.Errorf("%s: re-sent command occurred at %s", what, o.Envelope.OccurredAt)
		}
	}
	start(flows.BookTicket, bookData).do(d)
	check("after start", events.VerifyUser, false)
	ok("").do(d)
	retry("busy").do(d)
	check("waiting for a retry", "", false)
	wake.do(d)
	check("retry in flight", events.ReserveSeats, false)
	ok(`{"amount_cents":5000}`).do(d)
	fail("declined").do(d)
	check("compensation in flight", events.ReleaseSeats, true)
	ok("").do(d)
	check("compensated", "", false)
}

func TestNextWake(t *testing.T) {
	if w := (saga.State{}).NextWake(); !w.IsZero() {
		t.Errorf("State{}.NextWake() = %s", w)
	}
	d := run(t, start(flows.BookTicket, bookData))
	if w := d.s.NextWake(); !w.Equal(t0.Add(stepTO)) {
		t.Errorf("after start: %s", w)
	}
	retry("x").do(d)
	if w := d.s.NextWake(); !w.Equal(d.s.Steps[0].RetryAt) || !w.After(d.now) {
		t.Errorf("waiting: %s, retry at %s", w, d.s.Steps[0].RetryAt)
	}
	// The earliest of several pending times.
	s := d.s
	s.Steps = append([]saga.StepState(nil), s.Steps...)
	s.Steps[3].Deadline = t0.Add(-time.Hour)
	if w := s.NextWake(); !w.Equal(t0.Add(-time.Hour)) {
		t.Errorf("earliest: %s", w)
	}
	s.Status = saga.StatusCompleted
	if w := s.NextWake(); !w.IsZero() {
		t.Errorf("terminal: %s", w)
	}
}

func TestStepTimestamps(t *testing.T) {
	d := run(t, start(flows.BookTicket, bookData))
	d.now = t0.Add(2 * time.Second)
	ok("").do(d)
	if st := d.s.Steps[0]; !st.StartedAt.Equal(t0) || !st.EndedAt.Equal(d.now) {
		t.Errorf("VerifyUser %s..%s", st.StartedAt, st.EndedAt)
	}
	if st := d.s.Steps[1]; !st.StartedAt.Equal(d.now) || !st.Deadline.Equal(d.now.Add(stepTO)) {
		t.Errorf("ReserveSeats started %s deadline %s", st.StartedAt, st.Deadline)
	}
	if !d.s.UpdatedAt.Equal(d.now) || !d.s.StartedAt.Equal(t0) {
		t.Errorf("saga started %s updated %s", d.s.StartedAt, d.s.UpdatedAt)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(d.s.Data, &data); err != nil || len(data) != 5 {
		t.Errorf("data %s", d.s.Data)
	}
}
