// Package payment is the domain logic of the Payment participant: it
// charges a booking at most once and refunds it at most once. Records are
// keyed by booking ref, so a retried or redelivered charge finds the
// original one instead of charging the card again.
//
// Two demo tokens simulate faults of the payment processor (see package
// catalog): catalog.TokenTimeout is never answered, and refunds of a
// catalog.TokenRefundFails charge are rejected until the attempt number
// passes catalog.RefundOutageAttempts.
package payment

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
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
	// (catalog.TokenRefundFails); none of them moved money.
	FailedRefunds int
}

// Service implements participant.Service for payments.
type Service struct {
	payments map[string]Payment
	// handled maps a command id to the event that answered it, so the same
	// command id always gets the very same event (and reply) back.
	handled map[string]events.Envelope
}

// New returns a Service with no payments.
func New() *Service {
	return &Service{payments: map[string]Payment{}, handled: map[string]events.Envelope{}}
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
// processor rejects (catalog.TokenRefundFails).
const ReasonRefundRejected = "refund rejected by the payment processor"

// refundReply is what a refund adds; its own key, so the saga's amount stays.
type refundReply struct {
	RefundedCents int64 `json:"refunded_cents"`
}

// Handle decides the event answering cmd. It never changes state: Apply
// does, once the event is written. A charge that would go to the processor
// with catalog.TokenTimeout is swallowed: ok=false, no event and no reply,
// so the orchestrator's deadline passes.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if ev, ok := s.handled[cmd.ID]; ok {
		return ev, true, nil
	}
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
	var typ string
	var out events.PaymentV1
	if cmd.Type == events.ChargePayment {
		if d.AmountCents <= 0 {
			return events.Envelope{}, false, events.Malformed("%s: amount_cents must be positive, got %d", cmd.Type, d.AmountCents)
		}
		if d.PaymentToken == "" {
			return events.Envelope{}, false, events.Malformed("%s: payment_token is required", cmd.Type)
		}
		var answered bool
		if typ, out, answered = s.charge(d); !answered {
			return events.Envelope{}, false, nil
		}
	} else {
		typ, out = s.refund(d, p.Attempt)
	}
	out.CommandID, out.BookingRef, out.UserID = cmd.ID, d.BookingRef, d.UserID
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, out, events.TraceOf(cmd), d.BookingRef, now)
	return ev, err == nil, err
}

// charge charges once per ref: a retry after a charge gets the original
// charge back; after a refund (or its tombstone) the ref cannot be charged.
// answered is false when the processor never answers (catalog.TokenTimeout):
// the command is dropped. What the service already knows of the ref is
// answered before the processor is asked, so a late charge of a
// tombstoned ref is still refused on the record.
func (s *Service) charge(d events.BookingData) (typ string, out events.PaymentV1, answered bool) {
	switch pay := s.payments[d.BookingRef]; pay.Status {
	case Charged:
		return events.PaymentCharged, charged(pay.ChargeID, pay.ChargedCents, pay.Token), true
	case Refunded:
		return events.PaymentDeclined, declined("booking already refunded"), true
	}
	switch d.PaymentToken {
	case catalog.TokenOK, catalog.TokenRefundFails:
		return events.PaymentCharged, charged(ChargeIDFor(d.BookingRef), d.AmountCents, d.PaymentToken), true
	case catalog.TokenDeclined:
		return events.PaymentDeclined, declined("card declined"), true
	case catalog.TokenTimeout:
		return "", events.PaymentV1{}, false
	default:
		return events.PaymentDeclined, declined(fmt.Sprintf("unknown payment token %q", d.PaymentToken)), true
	}
}

// refund returns the ref's charge once. Refunding nothing succeeds with 0
// and leaves a tombstone; a second refund answers like the first. While
// the processor rejects a catalog.TokenRefundFails charge's refunds
// (attempts up to catalog.RefundOutageAttempts), the attempt is answered
// retryable with nothing refunded and the charge stays as it is.
func (s *Service) refund(d events.BookingData, attempt int) (string, events.PaymentV1) {
	pay := s.payments[d.BookingRef]
	if pay.Status == Charged && pay.Token == catalog.TokenRefundFails && attempt <= catalog.RefundOutageAttempts {
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
