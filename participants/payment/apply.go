package payment

import "github.com/sagaflow/saga/events"

// Apply folds one of the service's own events into its state. It is a
// deterministic fold: the same log always rebuilds the same state. An event
// for a command already folded (a duplicate write) changes nothing, and
// answers that repeat an earlier one move no money.
func (s *Service) Apply(e events.Envelope) error {
	switch e.Type {
	case events.PaymentCharged, events.PaymentDeclined, events.PaymentRefunded:
	default:
		return events.Malformed("payment service has no event %q", e.Type)
	}
	e, err := events.Check(e)
	if err != nil {
		return err
	}
	p, err := events.Decode[events.PaymentV1](e)
	if err != nil {
		return err
	}
	if _, seen := s.handled[p.CommandID]; seen {
		return nil
	}
	s.handled[p.CommandID] = e
	pay, exists := s.payments[p.BookingRef]
	switch e.Type {
	case events.PaymentCharged:
		if pay.Status != Charged && pay.Status != Refunded {
			s.payments[p.BookingRef] = Payment{Status: Charged, ChargeID: p.ChargeID, ChargedCents: p.AmountCents}
		}
	case events.PaymentDeclined:
		if !exists {
			s.payments[p.BookingRef] = Payment{Status: Declined}
		}
	case events.PaymentRefunded:
		if pay.Status != Refunded {
			pay.Status, pay.RefundedCents = Refunded, pay.ChargedCents
			s.payments[p.BookingRef] = pay
		}
	}
	return nil
}
