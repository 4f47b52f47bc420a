package payment_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// Random interleavings of charges and refunds, with retries, redeliveries,
// refunds that overtake charges, swallowed charges (tok_timeout) and
// rejected refunds (tok_refund_fails), never charge a ref twice, never
// refund more than was charged or twice, and fold back into the same state.
func TestNeverChargedTwice(t *testing.T) {
	tokens := []string{demo.TokenOK, demo.TokenOK, demo.TokenDeclined, demo.TokenTimeout, demo.TokenRefundFails}
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := newHarness(t)
			h.Every = 13
			newCharges := map[string]int{}
			var sent []cmdSpec
			for i := 0; i < 150; i++ {
				var c cmdSpec
				if len(sent) > 0 && rng.IntN(8) == 0 {
					c = sent[rng.IntN(len(sent))]
				} else {
					ref := fmt.Sprintf("BK-%d", rng.IntN(12))
					c = cmdSpec{typ: events.ChargePayment, saga: "s-" + ref, attempt: 1 + rng.IntN(3),
						data: events.BookingData{BookingRef: ref, PaymentToken: tokens[rng.IntN(len(tokens))], AmountCents: 100 * int64(1+rng.IntN(5))}}
					if rng.IntN(3) == 0 {
						c.typ, c.comp, c.attempt = events.RefundPayment, true, 1+rng.IntN(demo.RefundOutageAttempts+2)
					}
				}
				sent = append(sent, c)
				ref := c.data.BookingRef
				before, refundedBefore := h.Svc.Charged(ref), h.Svc.Refunded(ref)
				if _, _, ok := h.try(c); !ok && (c.typ != events.ChargePayment || c.data.PaymentToken != demo.TokenTimeout) {
					t.Fatalf("%s %s with %s dropped", c.typ, ref, c.data.PaymentToken)
				}
				if refundedBefore != 0 && h.Svc.Refunded(ref) != refundedBefore {
					t.Fatalf("%s: refunded twice: %d then %d", ref, refundedBefore, h.Svc.Refunded(ref))
				}
				if before == 0 && h.Svc.Charged(ref) > 0 {
					newCharges[ref]++
				} else if before != h.Svc.Charged(ref) {
					t.Fatalf("%s: charged moved from %d to %d", ref, before, h.Svc.Charged(ref))
				}
				if r := h.Svc.Refunded(ref); r != 0 && r != h.Svc.Charged(ref) {
					t.Fatalf("%s: refunded %d of %d", ref, r, h.Svc.Charged(ref))
				}
			}
			for ref, n := range newCharges {
				if n > 1 {
					t.Fatalf("%s charged %d times", ref, n)
				}
			}
			h.CheckFold()
		})
	}
}
