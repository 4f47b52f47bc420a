package payment

import (
	"encoding/json"

	"github.com/sagaflow/saga/events"
)

// Apply folds one of the service's own events into its state. It is a
// deterministic fold: the same log always rebuilds the same state. The
// runtime folds one event per command id (service.Once), and answers that
// repeat an earlier one for the same booking ref move no money. Only a
// succeeded PaymentCharged or PaymentRefunded moves money: a
// PaymentRefunded with outcome retryable (a refund the processor
// rejected) only counts the failed attempt.
func (s *Service) Apply(e events.Envelope) error {
	switch e.Type {
	case events.PaymentCharged, events.PaymentDeclined, events.PaymentRefunded:
	default:
		return events.Malformed("payment service has no event %q", e.Type)
	}
	e, p, err := events.CheckAs[events.PaymentV1](e)
	if err != nil {
		return err
	}
	pay, exists := s.payments[p.BookingRef]
	switch e.Type {
	case events.PaymentCharged:
		if p.Outcome == events.OutcomeSucceeded && pay.Status != Charged && pay.Status != Refunded {
			s.payments[p.BookingRef] = Payment{Status: Charged, ChargeID: p.ChargeID, Token: tokenOf(p),
				ChargedCents: p.AmountCents}
		}
	case events.PaymentDeclined:
		if !exists {
			s.payments[p.BookingRef] = Payment{Status: Declined}
		}
	case events.PaymentRefunded:
		switch {
		case p.Outcome != events.OutcomeSucceeded:
			// A refund attempt the processor rejected: no money moved.
			if pay.Status == Charged {
				pay.FailedRefunds++
				s.payments[p.BookingRef] = pay
			}
		case pay.Status != Refunded:
			pay.Status, pay.RefundedCents = Refunded, pay.ChargedCents
			s.payments[p.BookingRef] = pay
		}
	}
	return nil
}

// tokenOf is the payment token a charge's reply recorded; "" when it
// recorded none (or cannot be read), which refunds like any token.
func tokenOf(p events.PaymentV1) string {
	var r chargeReply
	if len(p.Reply) == 0 || json.Unmarshal(p.Reply, &r) != nil {
		return ""
	}
	return r.PaymentToken
}
