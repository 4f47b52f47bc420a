package payment_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/payment"
)

const (
	ok    = events.OutcomeSucceeded
	fail  = events.OutcomeFailed
	retry = events.OutcomeRetryable
)

// step is one command of a scenario and the answer it must get.
type step struct {
	typ     events.Type
	token   string
	amount  int64
	attempt int
	saga    string // "" is saga-1

	dropped     bool // the service swallows the command
	wantType    events.Type
	wantOutcome string
	wantReason  string
	wantAmount  int64
	wantCharge  bool // the event names the ref's charge id
	wantReply   string
}

const ref = "BK-1"

var chargeID = payment.ChargeIDFor(ref)

func charge(token string, amount int64) step {
	return step{typ: events.ChargePayment, token: token, amount: amount}
}
func refund() step                 { return step{typ: events.RefundPayment} }
func (s step) try(n int) step      { s.attempt = n; return s }
func (s step) in(saga string) step { s.saga = saga; return s }
func (s step) is(typ events.Type, outcome, reason string) step {
	s.wantType, s.wantOutcome, s.wantReason = typ, outcome, reason
	return s
}

// charged is a charge of amount made with tok_ok.
func (s step) charged(amount int64) step { return s.chargedWith(demo.TokenOK, amount) }

// chargedWith is a charge of amount made with token, as the reply records it.
func (s step) chargedWith(token string, amount int64) step {
	s = s.is(events.PaymentCharged, ok, "")
	s.wantAmount, s.wantCharge = amount, true
	s.wantReply = `{"charge_id":"` + chargeID + `","amount_cents":` + itoa(amount) + `,"payment_token":"` + token + `"}`
	return s
}
func (s step) refunded(amount int64, named bool) step {
	s.wantAmount, s.wantCharge = amount, named
	s.wantReply = `{"refunded_cents":` + itoa(amount) + `}`
	return s
}

// rejected is a refund attempt the processor turns down: recorded,
// retryable, nothing refunded and no reply data.
func (s step) rejected() step {
	s = s.is(events.PaymentRefunded, retry, payment.ReasonRefundRejected)
	s.wantAmount, s.wantCharge, s.wantReply = 0, true, ""
	return s
}
func (s step) swallowed() step { s.dropped = true; return s }

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestRules(t *testing.T) {
	const (
		timeout = demo.TokenTimeout
		rfails  = demo.TokenRefundFails
		outage  = demo.RefundOutageAttempts
	)
	tests := []struct {
		name                   string
		steps                  []step
		wantCharged, wantRefnd int64
		wantStatus             payment.Status // "": the service knows nothing of the ref
		wantFailedRefunds      int
	}{
		{"charge", []step{
			charge(demo.TokenOK, 5000).charged(5000),
		}, 5000, 0, payment.Charged, 0},
		{"declined", []step{
			charge(demo.TokenDeclined, 5000).is(events.PaymentDeclined, fail, "card declined"),
		}, 0, 0, payment.Declined, 0},
		{"unknown token is declined", []step{
			charge("tok_what", 5000).is(events.PaymentDeclined, fail, "unknown payment token"),
		}, 0, 0, payment.Declined, 0},
		{"retry attempt gets the original charge", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			charge(demo.TokenOK, 9999).try(2).charged(5000),
			charge(demo.TokenDeclined, 5000).try(3).charged(5000),
		}, 5000, 0, payment.Charged, 0},
		{"declined then charged on a later attempt", []step{
			charge(demo.TokenDeclined, 5000).is(events.PaymentDeclined, fail, "card declined"),
			charge(demo.TokenOK, 5000).try(2).charged(5000),
		}, 5000, 0, payment.Charged, 0},
		{"refund", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			refund().is(events.PaymentRefunded, ok, "").refunded(5000, true),
		}, 5000, 5000, payment.Refunded, 0},
		{"refund twice refunds once", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			refund().is(events.PaymentRefunded, ok, "").refunded(5000, true),
			refund().try(2).is(events.PaymentRefunded, ok, "").refunded(5000, true),
		}, 5000, 5000, payment.Refunded, 0},
		{"no charge after a refund", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			refund().is(events.PaymentRefunded, ok, "").refunded(5000, true),
			charge(demo.TokenOK, 5000).try(2).is(events.PaymentDeclined, fail, "booking already refunded"),
		}, 5000, 5000, payment.Refunded, 0},
		{"refund before charge leaves a tombstone", []step{
			refund().is(events.PaymentRefunded, ok, "").refunded(0, false),
			charge(demo.TokenOK, 5000).is(events.PaymentDeclined, fail, "booking already refunded"),
			refund().try(2).is(events.PaymentRefunded, ok, "").refunded(0, false),
		}, 0, 0, payment.Refunded, 0},
		{"refund of a declined payment", []step{
			charge(demo.TokenDeclined, 5000).is(events.PaymentDeclined, fail, "card declined"),
			refund().is(events.PaymentRefunded, ok, "").refunded(0, false),
			charge(demo.TokenOK, 5000).try(2).is(events.PaymentDeclined, fail, "booking already refunded"),
		}, 0, 0, payment.Refunded, 0},

		// tok_timeout: the processor never answers.
		{"timeout swallows every attempt", []step{
			charge(timeout, 5000).swallowed(),
			charge(timeout, 5000).try(2).swallowed(),
			charge(timeout, 5000).try(3).swallowed(),
		}, 0, 0, "", 0},
		{"timeout then compensated: nothing refunded, tombstone", []step{
			charge(timeout, 5000).swallowed(),
			charge(timeout, 5000).try(2).swallowed(),
			charge(timeout, 5000).try(3).swallowed(),
			refund().is(events.PaymentRefunded, ok, "").refunded(0, false),
			refund().try(2).is(events.PaymentRefunded, ok, "").refunded(0, false),
		}, 0, 0, payment.Refunded, 0},
		{"a charge after the tombstone is refused on the record", []step{
			charge(timeout, 5000).swallowed(),
			refund().is(events.PaymentRefunded, ok, "").refunded(0, false),
			charge(timeout, 5000).try(2).is(events.PaymentDeclined, fail, "booking already refunded"),
			charge(demo.TokenOK, 5000).try(3).is(events.PaymentDeclined, fail, "booking already refunded"),
		}, 0, 0, payment.Refunded, 0},
		{"a known charge is answered without asking the processor", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			charge(timeout, 5000).try(2).charged(5000),
		}, 5000, 0, payment.Charged, 0},

		// tok_refund_fails: charged; refunds rejected until the operator's retry.
		{"refund fails: charged like tok_ok", []step{
			charge(rfails, 5000).chargedWith(rfails, 5000),
			charge(rfails, 5000).try(2).chargedWith(rfails, 5000),
		}, 5000, 0, payment.Charged, 0},
		{"refund fails: every policy attempt rejected, the operator's retry refunds", []step{
			charge(rfails, 5000).chargedWith(rfails, 5000),
			refund().try(1).rejected(),
			refund().try(2).rejected(),
			refund().try(3).rejected(),
			refund().try(4).rejected(),
			refund().try(outage).rejected(),
			refund().try(outage+1).is(events.PaymentRefunded, ok, "").refunded(5000, true),
		}, 5000, 5000, payment.Refunded, outage},
		{"refund fails: refunded at most once", []step{
			charge(rfails, 5000).chargedWith(rfails, 5000),
			refund().try(1).rejected(),
			refund().try(outage+1).is(events.PaymentRefunded, ok, "").refunded(5000, true),
			refund().try(outage+2).is(events.PaymentRefunded, ok, "").refunded(5000, true),
			// Attempt 2 of another saga, after the refund: answered like the first.
			refund().try(2).in("saga-2").is(events.PaymentRefunded, ok, "").refunded(5000, true),
			// Attempt 1 of this saga again: the same command id, the same answer.
			refund().try(1).rejected(),
		}, 5000, 5000, payment.Refunded, 1},
		{"refund fails: no new charge while refunds are rejected", []step{
			charge(rfails, 5000).chargedWith(rfails, 5000),
			refund().try(1).rejected(),
			charge(rfails, 7000).try(2).chargedWith(rfails, 5000),
			charge(demo.TokenOK, 7000).try(3).chargedWith(rfails, 5000),
			refund().try(2).rejected(),
		}, 5000, 0, payment.Charged, 2},
		{"refund fails: a charge after the refund is refused", []step{
			charge(rfails, 5000).chargedWith(rfails, 5000),
			refund().try(outage+1).is(events.PaymentRefunded, ok, "").refunded(5000, true),
			charge(rfails, 5000).try(2).is(events.PaymentDeclined, fail, "booking already refunded"),
		}, 5000, 5000, payment.Refunded, 0},
		{"refund fails: nothing charged, nothing to reject", []step{
			refund().try(1).is(events.PaymentRefunded, ok, "").refunded(0, false),
			charge(rfails, 5000).is(events.PaymentDeclined, fail, "booking already refunded"),
		}, 0, 0, payment.Refunded, 0},
		{"refund fails: a tok_ok charge refunds at once", []step{
			charge(demo.TokenOK, 5000).charged(5000),
			refund().try(1).in("saga-2").is(events.PaymentRefunded, ok, "").refunded(5000, true),
		}, 5000, 5000, payment.Refunded, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, s := range tt.steps {
				saga := s.saga
				if saga == "" {
					saga = "saga-1"
				}
				ev, p, answered := h.try(cmdSpec{typ: s.typ, saga: saga, attempt: s.attempt, comp: s.typ == events.RefundPayment,
					data: events.BookingData{BookingRef: ref, UserID: "alice", PaymentToken: s.token, AmountCents: s.amount}})
				if answered == s.dropped {
					t.Fatalf("step %d: answered=%v, want %v", i, answered, !s.dropped)
				}
				if s.dropped {
					continue
				}
				if ev.Type != s.wantType || p.Outcome != s.wantOutcome || p.Reason != s.wantReason {
					t.Fatalf("step %d: got %s %s %q, want %s %s %q", i, ev.Type, p.Outcome, p.Reason, s.wantType, s.wantOutcome, s.wantReason)
				}
				wantID := ""
				if s.wantCharge {
					wantID = chargeID
				}
				if p.AmountCents != s.wantAmount || p.ChargeID != wantID || string(p.Reply) != s.wantReply {
					t.Fatalf("step %d: got amount %d charge %q reply %s, want %d %q %s", i, p.AmountCents, p.ChargeID, p.Reply, s.wantAmount, wantID, s.wantReply)
				}
			}
			if h.Svc.Charged(ref) != tt.wantCharged || h.Svc.Refunded(ref) != tt.wantRefnd {
				t.Errorf("charged %d refunded %d, want %d %d", h.Svc.Charged(ref), h.Svc.Refunded(ref), tt.wantCharged, tt.wantRefnd)
			}
			got, known := h.Svc.Payment(ref)
			if got.Status != tt.wantStatus || known != (tt.wantStatus != "") {
				t.Errorf("status %q (known %v), want %q", got.Status, known, tt.wantStatus)
			}
			if got.FailedRefunds != tt.wantFailedRefunds {
				t.Errorf("%d failed refunds recorded, want %d", got.FailedRefunds, tt.wantFailedRefunds)
			}
		})
	}
}

// Refs are independent: one ref's refund does not touch another's charge.
func TestRefsAreIndependent(t *testing.T) {
	h := newHarness(t)
	for _, r := range []string{"BK-A", "BK-B"} {
		h.run(cmdSpec{typ: events.ChargePayment, saga: "s-" + r, data: events.BookingData{BookingRef: r, PaymentToken: demo.TokenOK, AmountCents: 1000}})
	}
	h.run(cmdSpec{typ: events.RefundPayment, saga: "s-BK-A", comp: true, data: events.BookingData{BookingRef: "BK-A"}})
	if h.Svc.Refunded("BK-A") != 1000 || h.Svc.Refunded("BK-B") != 0 || h.Svc.Charged("BK-B") != 1000 {
		t.Fatalf("A refunded %d, B refunded %d charged %d", h.Svc.Refunded("BK-A"), h.Svc.Refunded("BK-B"), h.Svc.Charged("BK-B"))
	}
	if payment.ChargeIDFor("BK-A") == payment.ChargeIDFor("BK-B") {
		t.Fatal("charge ids collide")
	}
}

// The same command id twice gets the very same answer (the runtime's
// service.Once) and moves no money.
func TestSameCommandIDTwice(t *testing.T) {
	h := newHarness(t)
	c := cmdSpec{typ: events.ChargePayment, saga: "s1", data: events.BookingData{BookingRef: ref, PaymentToken: demo.TokenOK, AmountCents: 700}}
	a, _ := h.run(c)
	b, _ := h.run(c)
	r := cmdSpec{typ: events.RefundPayment, saga: "s1", comp: true, data: events.BookingData{BookingRef: ref}}
	ra, _ := h.run(r)
	rb, _ := h.run(r)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ra, rb) {
		t.Fatal("a redelivered command got a different event")
	}
	if h.Svc.Charged(ref) != 700 || h.Svc.Refunded(ref) != 700 {
		t.Fatalf("charged %d refunded %d, want 700 700", h.Svc.Charged(ref), h.Svc.Refunded(ref))
	}
}

func TestMalformed(t *testing.T) {
	good := events.BookingData{BookingRef: ref, UserID: "alice", PaymentToken: demo.TokenOK, AmountCents: 100}
	with := func(f func(*events.BookingData)) events.BookingData { d := good; f(&d); return d }
	tests := []struct {
		name string
		typ  events.Type
		data events.BookingData
		mod  func(*events.CommandV1)
	}{
		{"charge without booking_ref", events.ChargePayment, with(func(d *events.BookingData) { d.BookingRef = "" }), nil},
		{"refund without booking_ref", events.RefundPayment, with(func(d *events.BookingData) { d.BookingRef = "" }), nil},
		{"zero amount", events.ChargePayment, with(func(d *events.BookingData) { d.AmountCents = 0 }), nil},
		{"negative amount", events.ChargePayment, with(func(d *events.BookingData) { d.AmountCents = -5 }), nil},
		{"no token", events.ChargePayment, with(func(d *events.BookingData) { d.PaymentToken = "" }), nil},
		{"unknown command", events.ReserveSeats, good, nil},
		{"data not an object", events.ChargePayment, good, func(p *events.CommandV1) { p.Data = json.RawMessage(`"tok_ok"`) }},
		{"amount of the wrong type", events.ChargePayment, good, func(p *events.CommandV1) {
			p.Data = json.RawMessage(`{"booking_ref":"BK-1","payment_token":"tok_ok","amount_cents":"100"}`)
		}},
		{"attempt zero", events.ChargePayment, good, func(p *events.CommandV1) { p.Attempt = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, p := build(t, cmdSpec{typ: tt.typ, saga: "s1", data: tt.data})
			if tt.mod != nil {
				tt.mod(&p)
			}
			newHarness(t).Refuses(cmd, p)
		})
	}
}

func TestApplyRejectsForeignEvents(t *testing.T) {
	h := newHarness(t)
	bad := []events.Envelope{
		events.MustNew("e1", events.SeatsReserved, events.SeatsV1{Handled: events.Handled{CommandID: "c", Outcome: ok}, BookingRef: "BK", ShowID: "x"}, events.Trace{}, "k", t0),
		{ID: "e2", Type: events.PaymentCharged, Version: 1, Payload: json.RawMessage(`{`)},
		events.MustNew("e3", events.PaymentCharged, events.PaymentV1{Handled: events.Handled{CommandID: "c", Outcome: ok}}, events.Trace{}, "k", t0),
	}
	for _, e := range bad {
		h.RefusesEvent(e)
	}
	if h.Svc.Name() != events.ServicePayment {
		t.Fatal("wrong name")
	}
}

// With reservations checked, a charge the check refuses is declined with
// its reason and charges nothing; one it accepts is charged as before.
func TestChargesWaitOnTheReservation(t *testing.T) {
	receipt := &events.Receipt{KeyID: "booking-1", Signatures: map[string]string{"payment-1": "ok"}}
	check := func(d events.BookingData) error {
		if d.Reservation == nil || d.AmountCents != 5000 {
			return errors.New("the receipt does not confirm it")
		}
		return nil
	}
	opt := payment.CheckReservations(check)
	h := &harness{participanttest.New(t, func() *payment.Service { return payment.New(demo.Processor{}, opt) })}
	for _, c := range []struct {
		name    string
		amount  int64
		receipt *events.Receipt
		want    events.Type
	}{
		{"no receipt", 5000, nil, events.PaymentDeclined},
		{"another amount", 999_999_900, receipt, events.PaymentDeclined},
		{"the reserved amount", 5000, receipt, events.PaymentCharged},
	} {
		ev, p := h.run(cmdSpec{typ: events.ChargePayment, saga: "saga-" + c.name, data: events.BookingData{BookingRef: ref, UserID: "alice",
			PaymentToken: demo.TokenOK, AmountCents: c.amount, Reservation: c.receipt}})
		if ev.Type != c.want {
			t.Fatalf("%s: %s (%s), want %s", c.name, ev.Type, p.Reason, c.want)
		}
		if c.want == events.PaymentDeclined && !strings.HasPrefix(p.Reason, payment.ReasonAmountUnconfirmed+": ") {
			t.Errorf("%s: reason %q", c.name, p.Reason)
		}
	}
	if got := h.Svc.Charged(ref); got != 5000 {
		t.Errorf("charged %d, want the reserved 5000 alone", got)
	}
}
