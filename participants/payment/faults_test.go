package payment_test

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
)

func chargeCmd(token string, attempt int) cmdSpec {
	return cmdSpec{typ: events.ChargePayment, saga: "s1", attempt: attempt,
		data: events.BookingData{BookingRef: ref, UserID: "alice", PaymentToken: token, AmountCents: 5000}}
}

func refundCmd(attempt int) cmdSpec {
	return cmdSpec{typ: events.RefundPayment, saga: "s1", attempt: attempt, comp: true,
		data: events.BookingData{BookingRef: ref, UserID: "alice"}}
}

// The same command id twice gets the same answer, for the demo faults
// too: a swallowed charge is swallowed again, a rejected refund is
// rejected again (even after a later attempt refunded), and neither moves
// money the second time.
func TestFaultsSameCommandIDTwice(t *testing.T) {
	tests := []struct {
		name   string
		before []cmdSpec
		cmd    cmdSpec
		after  []cmdSpec // between the two deliveries
	}{
		{"swallowed charge", nil, chargeCmd(demo.TokenTimeout, 1), nil},
		{"swallowed charge after other attempts", nil, chargeCmd(demo.TokenTimeout, 3),
			[]cmdSpec{chargeCmd(demo.TokenTimeout, 1), chargeCmd(demo.TokenTimeout, 2)}},
		{"refund after a swallowed charge", []cmdSpec{chargeCmd(demo.TokenTimeout, 1)}, refundCmd(1), nil},
		{"charge with tok_refund_fails", nil, chargeCmd(demo.TokenRefundFails, 1), nil},
		{"rejected refund", []cmdSpec{chargeCmd(demo.TokenRefundFails, 1)}, refundCmd(2), nil},
		{"rejected refund redelivered after the refund", []cmdSpec{chargeCmd(demo.TokenRefundFails, 1)}, refundCmd(demo.RefundOutageAttempts),
			[]cmdSpec{refundCmd(demo.RefundOutageAttempts + 1)}},
		{"the operator's refund", []cmdSpec{chargeCmd(demo.TokenRefundFails, 1), refundCmd(1)}, refundCmd(demo.RefundOutageAttempts + 1),
			[]cmdSpec{refundCmd(demo.RefundOutageAttempts + 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for _, c := range tt.before {
				h.try(c)
			}
			a, pa, okA := h.try(tt.cmd)
			for _, c := range tt.after {
				h.try(c)
			}
			charged, refunded := h.Svc.Charged(ref), h.Svc.Refunded(ref)
			b, pb, okB := h.try(tt.cmd)
			if okA != okB || !reflect.DeepEqual(a, b) || !reflect.DeepEqual(pa, pb) {
				t.Fatalf("first answer (ok=%v) %+v\nsecond (ok=%v) %+v", okA, pa, okB, pb)
			}
			if h.Svc.Charged(ref) != charged || h.Svc.Refunded(ref) != refunded {
				t.Fatalf("the second delivery moved money: charged %d->%d refunded %d->%d",
					charged, h.Svc.Charged(ref), refunded, h.Svc.Refunded(ref))
			}
		})
	}
}

// A refund attempt the processor rejected is recorded; folded from the
// log it moves no money, whatever comes before or after it.
func TestApplyRejectedRefund(t *testing.T) {
	h := newHarness(t)
	h.run(chargeCmd(demo.TokenRefundFails, 1))
	h.run(refundCmd(1))
	ev, _ := h.run(refundCmd(2))
	s := h.Fold(h.Log)
	if s.Charged(ref) != 5000 || s.Refunded(ref) != 0 {
		t.Fatalf("charged %d refunded %d, want 5000 0", s.Charged(ref), s.Refunded(ref))
	}
	if p, _ := s.Payment(ref); p.Status != payment.Charged || p.FailedRefunds != 2 || p.Token != demo.TokenRefundFails {
		t.Fatalf("payment %+v", p)
	}
	// A rejected refund alone (a log cut short, or copied elsewhere) knows
	// of no charge and makes no tombstone.
	alone := payment.New(demo.Processor{})
	once := service.NewOnce(alone)
	if folded, err := once.Apply(ev); err != nil || !folded {
		t.Fatalf("folded=%v err=%v", folded, err)
	}
	if _, known := alone.Payment(ref); known {
		t.Fatal("a rejected refund alone created a payment record")
	}
	// ... but the runtime remembers its command id: the same command gets
	// the same reply, and nothing is written again.
	cmd, p := build(t, refundCmd(2))
	again, err := once.Handle(cmd, p, t0)
	if err != nil || !again.Repeat || again.Event.ID != "" || !reflect.DeepEqual(again.Reply, events.MustDecode[events.PaymentV1](ev).Handled) {
		t.Fatalf("redelivery after the fold: err=%v %+v", err, again)
	}
}

// Charges recorded before the reply named the token refund like tok_ok.
func TestChargeWithoutRecordedToken(t *testing.T) {
	cmd, _ := build(t, chargeCmd(demo.TokenRefundFails, 1))
	old := events.MustNew(events.DerivedID(cmd.ID, "event"), events.PaymentCharged, events.PaymentV1{
		Handled:    events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded, Reply: []byte(`{"charge_id":"ch","amount_cents":5000}`)},
		BookingRef: ref, ChargeID: "ch", AmountCents: 5000,
	}, events.TraceOf(cmd), ref, t0)
	h := newHarness(t)
	if err := h.Svc.Apply(old); err != nil {
		t.Fatal(err)
	}
	h.Log = append(h.Log, old)
	_, p := h.run(refundCmd(1))
	if p.Outcome != events.OutcomeSucceeded || p.AmountCents != 5000 || h.Svc.Refunded(ref) != 5000 {
		t.Fatalf("refund %+v, refunded %d", p, h.Svc.Refunded(ref))
	}
}

// For every token, any order of the charge attempts, the refund attempts
// (up to two beyond the outage) and redeliveries charges at most once and
// refunds at most once; a tok_refund_fails charge is refunded only by an
// attempt beyond the outage; every successful refund answer agrees.
func TestFaultsAnyOrder(t *testing.T) {
	tokens := []string{demo.TokenOK, demo.TokenDeclined, demo.TokenTimeout, demo.TokenRefundFails}
	for _, token := range tokens {
		t.Run(token, func(t *testing.T) {
			var cmds []cmdSpec
			for a := 1; a <= 3; a++ {
				cmds = append(cmds, chargeCmd(token, a))
			}
			for a := 1; a <= demo.RefundOutageAttempts+2; a++ {
				cmds = append(cmds, refundCmd(a))
			}
			for seed := uint64(1); seed <= 200; seed++ {
				rng := rand.New(rand.NewPCG(seed, 11))
				order := append([]cmdSpec(nil), cmds...)
				for range 4 { // redeliveries
					order = append(order, cmds[rng.IntN(len(cmds))])
				}
				rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				h := newHarness(t)
				h.Every = 5
				charges, refunds := 0, 0
				var refundAnswer *int64
				for _, c := range order {
					before, refundedBefore := h.Svc.Charged(ref), h.Svc.Refunded(ref)
					wasRefunded := mustPayment(h.Svc).Status == payment.Refunded
					ev, p, answered := h.try(c)
					if token == demo.TokenTimeout && c.typ == events.ChargePayment && !answered != (mustPayment(h.Svc).Status != payment.Refunded) {
						t.Fatalf("seed %d: tok_timeout charge answered=%v with status %q", seed, answered, mustPayment(h.Svc).Status)
					}
					if !answered {
						continue
					}
					if before == 0 && h.Svc.Charged(ref) > 0 {
						charges++
					} else if before != h.Svc.Charged(ref) {
						t.Fatalf("seed %d: charged moved %d -> %d", seed, before, h.Svc.Charged(ref))
					}
					if !wasRefunded && mustPayment(h.Svc).Status == payment.Refunded {
						refunds++
						if token == demo.TokenRefundFails && h.Svc.Refunded(ref) > 0 && c.attempt <= demo.RefundOutageAttempts {
							t.Fatalf("seed %d: attempt %d refunded during the outage", seed, c.attempt)
						}
					} else if refundedBefore != h.Svc.Refunded(ref) {
						t.Fatalf("seed %d: refunded moved %d -> %d", seed, refundedBefore, h.Svc.Refunded(ref))
					}
					if ev.Type == events.PaymentRefunded && p.Outcome == events.OutcomeSucceeded {
						if refundAnswer == nil {
							refundAnswer = &p.AmountCents
						} else if *refundAnswer != p.AmountCents {
							t.Fatalf("seed %d: refunds answered %d then %d", seed, *refundAnswer, p.AmountCents)
						}
					}
					if p.Outcome == events.OutcomeRetryable && (token != demo.TokenRefundFails || p.AmountCents != 0) {
						t.Fatalf("seed %d: %s retryable %+v", seed, token, p)
					}
				}
				if charges > 1 || refunds > 1 {
					t.Fatalf("seed %d: %d charges, %d refunds", seed, charges, refunds)
				}
				if r := h.Svc.Refunded(ref); r != 0 && r != h.Svc.Charged(ref) {
					t.Fatalf("seed %d: refunded %d of %d", seed, r, h.Svc.Charged(ref))
				}
				// Every order ends refunded: the last refund attempts always succeed.
				if st := mustPayment(h.Svc).Status; st != payment.Refunded {
					t.Fatalf("seed %d: ends %q", seed, st)
				}
				if token == demo.TokenTimeout && h.Svc.Charged(ref) != 0 {
					t.Fatalf("seed %d: tok_timeout charged %d", seed, h.Svc.Charged(ref))
				}
				h.CheckFold()
			}
		})
	}
}

func mustPayment(s *payment.Service) payment.Payment {
	p, _ := s.Payment(ref)
	return p
}
