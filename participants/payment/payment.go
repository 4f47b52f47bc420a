// Package payment is the domain logic of the Payment participant: it
// charges a booking at most once and refunds it at most once. Records are
// keyed by booking ref, so a retried or redelivered charge finds the
// original one instead of charging the card again.
//
// The Processor it is given decides what a token does; the demo's
// simulates faults too: a charge never answered, refunds rejected for a
// while.
package payment

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

// Status is where a booking ref's payment stands.
type Status string

// Payment statuses. Refunded is also the tombstone of a booking whose
// refund overtook its charge: a late charge is then refused.
const (
	Charged  Status = "charged"
	Declined Status = "declined"
	Refunded Status = "refunded"
)

// Payment is what the service knows of one booking ref's money.
type Payment struct {
	Status   Status
	ChargeID string
	// Token is the payment token the ref was charged with, as the charge's
	// reply recorded it (empty for charges recorded before it was).
	Token         string
	ChargedCents  int64
	RefundedCents int64
	// FailedRefunds counts the refund attempts the processor rejected
	// (a refund the processor rejects); none of them moved money.
	FailedRefunds int
}

// Processor is the payment processor that charges and refunds cards.
type Processor interface {
	// Charge charges a card by its token. answered is false when the
	// processor never answers; reason says why a charge was declined.
	Charge(token string) (charged bool, reason string, answered bool)
	// RefundRejected reports whether the processor rejects attempt of a
	// refund of a charge made with token (it refunds nothing then).
	RefundRejected(token string, attempt int) bool
}

// Service implements service.Service for payments.
type Service struct {
	proc     Processor
	payments map[string]Payment
	// reservation checks a charge's amount against the booking service's
	// receipt; nil charges what the command says.
	reservation *reservationCheck
}

var _ service.Service = (*Service)(nil)

// reservationCheck is shared by the services one Option makes, so that
// two of them (a fold and the live one) compare equal.
type reservationCheck struct {
	check func(events.BookingData) error
}

// Option configures a Service.
type Option func(*Service)

// CheckReservations makes every charge wait on check, which compares its
// amount with the booking service's receipt for the reservation it names:
// a charge it refuses is declined, whoever signed the command.
func CheckReservations(check func(events.BookingData) error) Option {
	c := &reservationCheck{check}
	return func(s *Service) { s.reservation = c }
}

// New returns a Service with no payments that charges through proc.
func New(proc Processor, opts ...Option) *Service {
	s := &Service{proc: proc, payments: map[string]Payment{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name is the service name; it owns payment.commands and payment.events.
func (s *Service) Name() string { return events.ServicePayment }

// Charged is the amount ever charged for ref.
func (s *Service) Charged(ref string) int64 { return s.payments[ref].ChargedCents }

// Refunded is the amount ever refunded for ref.
func (s *Service) Refunded(ref string) int64 { return s.payments[ref].RefundedCents }

// Payment returns what the service knows of ref.
func (s *Service) Payment(ref string) (Payment, bool) {
	p, ok := s.payments[ref]
	return p, ok
}

// ChargeIDFor is the id of ref's charge: derived, so every attempt and
// every replica names the same charge.
func ChargeIDFor(ref string) string { return events.DerivedID(ref, "charge") }

// chargeReply is what a charge adds to the saga data. The token is the
// one the saga already holds; the reply records it so that Apply knows,
// from the log alone, how the ref's refunds behave.
type chargeReply struct {
	ChargeID     string `json:"charge_id"`
	AmountCents  int64  `json:"amount_cents"`
	PaymentToken string `json:"payment_token,omitempty"`
}

// ReasonRefundRejected is the reason of a refund attempt the payment
// processor rejects (a refund the processor rejects).
const ReasonRefundRejected = "refund rejected by the payment processor"

// ReasonAmountUnconfirmed starts the reason of a charge refused because
// the booking service's receipt does not confirm its amount.
const ReasonAmountUnconfirmed = "amount not confirmed by the reservation"

// refundReply is what a refund adds; its own key, so the saga's amount stays.
type refundReply struct {
	RefundedCents int64 `json:"refunded_cents"`
}

// Handle decides the event answering cmd. It never changes state: Apply
// does, once the event is written. A charge that would go to the processor
// the processor never answers is swallowed: ok=false, no event and no reply,
// so the orchestrator's deadline passes.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if cmd.Type != events.ChargePayment && cmd.Type != events.RefundPayment {
		return events.Envelope{}, false, events.Malformed("payment service does not handle %q", cmd.Type)
	}
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	if d.BookingRef == "" {
		return events.Envelope{}, false, events.Malformed("%s: booking_ref is required", cmd.Type)
	}
	var typ events.Type
	var out events.PaymentV1
	if cmd.Type == events.ChargePayment {
		if d.AmountCents <= 0 {
			return events.Envelope{}, false, events.Malformed("%s: amount_cents must be positive, got %d", cmd.Type, d.AmountCents)
		}
		if d.PaymentToken == "" {
			return events.Envelope{}, false, events.Malformed("%s: payment_token is required", cmd.Type)
		}
		var answered bool
		if err := s.checkReservation(d); err != nil {
			typ, out = events.PaymentDeclined, declined(err.Error())
		} else if typ, out, answered = s.charge(d); !answered {
			return events.Envelope{}, false, nil
		}
	} else {
		typ, out = s.refund(d, p.Attempt)
	}
	out.CommandID, out.BookingRef, out.UserID = cmd.ID, d.BookingRef, d.UserID
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, out, events.TraceOf(cmd), d.BookingRef, now)
	return ev, err == nil, err
}

// checkReservation refuses a charge whose amount the booking service did
// not sign for its booking reference, when reservations are checked.
func (s *Service) checkReservation(d events.BookingData) error {
	if s.reservation == nil {
		return nil
	}
	if err := s.reservation.check(d); err != nil {
		return fmt.Errorf("%s: %w", ReasonAmountUnconfirmed, err)
	}
	return nil
}

// charge charges once per ref: a retry after a charge gets the original
// charge back; after a refund (or its tombstone) the ref cannot be charged.
// answered is false when the processor never answers (a charge the processor never answers):
// the command is dropped. What the service already knows of the ref is
// answered before the processor is asked, so a late charge of a
// tombstoned ref is still refused on the record.
func (s *Service) charge(d events.BookingData) (typ events.Type, out events.PaymentV1, answered bool) {
	switch pay := s.payments[d.BookingRef]; pay.Status {
	case Charged:
		return events.PaymentCharged, charged(pay.ChargeID, pay.ChargedCents, pay.Token), true
	case Refunded:
		return events.PaymentDeclined, declined("booking already refunded"), true
	case Declined:
		// Declined before: the processor is asked again.
	}
	ok, reason, answered := s.proc.Charge(d.PaymentToken)
	switch {
	case !answered:
		return "", events.PaymentV1{}, false
	case ok:
		return events.PaymentCharged, charged(ChargeIDFor(d.BookingRef), d.AmountCents, d.PaymentToken), true
	default:
		return events.PaymentDeclined, declined(reason), true
	}
}

// refund returns the ref's charge once. Refunding nothing succeeds with 0
// and leaves a tombstone; a second refund answers like the first. While
// the processor rejects a charge's refunds
// (Processor.RefundRejected), the attempt is answered
// retryable with nothing refunded and the charge stays as it is.
func (s *Service) refund(d events.BookingData, attempt int) (events.Type, events.PaymentV1) {
	pay := s.payments[d.BookingRef]
	if pay.Status == Charged && s.proc.RefundRejected(pay.Token, attempt) {
		return events.PaymentRefunded, events.PaymentV1{
			Handled:  events.Handled{Outcome: events.OutcomeRetryable, Reason: ReasonRefundRejected},
			ChargeID: pay.ChargeID,
		}
	}
	amount := pay.ChargedCents // what the first refund returned, or will
	return events.PaymentRefunded, events.PaymentV1{
		Handled:     events.Handled{Outcome: events.OutcomeSucceeded, Reply: events.MustJSON(refundReply{amount})},
		ChargeID:    pay.ChargeID,
		AmountCents: amount,
	}
}

func charged(id string, amount int64, token string) events.PaymentV1 {
	return events.PaymentV1{
		Handled:  events.Handled{Outcome: events.OutcomeSucceeded, Reply: events.MustJSON(chargeReply{id, amount, token})},
		ChargeID: id, AmountCents: amount,
	}
}

func declined(reason string) events.PaymentV1 {
	return events.PaymentV1{Handled: events.Handled{Outcome: events.OutcomeFailed, Reason: reason}}
}
