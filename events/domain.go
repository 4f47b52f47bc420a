package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Participant domain event types (topic <service>.events, key entity id).
const (
	UserVerified     Type = "UserVerified"
	UserRejected     Type = "UserRejected"
	SeatsReserved    Type = "SeatsReserved"
	SeatsRejected    Type = "SeatsRejected"
	SeatsReleased    Type = "SeatsReleased"
	BookingConfirmed Type = "BookingConfirmed"
	PaymentCharged   Type = "PaymentCharged"
	PaymentDeclined  Type = "PaymentDeclined"
	PaymentRefunded  Type = "PaymentRefunded"
	NotificationSent Type = "NotificationSent"
)

// Handled is part of every domain event: the command it answers and the
// reply that was sent. A participant that sees the command id again sends
// the same reply without applying the command twice; after a restart it
// learns what it handled by folding its own log.
type Handled struct {
	CommandID string          `json:"command_id"`
	Outcome   string          `json:"outcome"`
	Reason    string          `json:"reason,omitempty"`
	Reply     json.RawMessage `json:"reply,omitempty"`
}

// Validate reports what is wrong with a Handled payload (events.Check calls it).
func (h Handled) Validate() error {
	var errs []error
	if h.CommandID == "" {
		errs = append(errs, errors.New("command_id is required"))
	}
	switch h.Outcome {
	case OutcomeSucceeded, OutcomeFailed, OutcomeRetryable:
	default:
		errs = append(errs, fmt.Errorf("outcome must be succeeded, failed or retryable, got %q", h.Outcome))
	}
	if !isOptionalObject(h.Reply) {
		errs = append(errs, errors.New("reply must be a JSON object"))
	}
	return errors.Join(errs...)
}

// UserCheckedV1 is UserVerified or UserRejected.
type UserCheckedV1 struct {
	Handled
	UserID string `json:"user_id"`
}

// SeatsV1 is the payload of every booking event: SeatsReserved,
// SeatsRejected, SeatsReleased and BookingConfirmed.
type SeatsV1 struct {
	Handled
	BookingRef  string `json:"booking_ref"`
	ShowID      string `json:"show_id"`
	UserID      string `json:"user_id,omitempty"`
	Seats       int    `json:"seats"`
	AmountCents int64  `json:"amount_cents,omitempty"`
}

// Validate reports what is wrong with a SeatsV1 payload (events.Check calls it).
func (p SeatsV1) Validate() error {
	var errs []error
	errs = append(errs, p.Handled.Validate())
	if p.BookingRef == "" {
		errs = append(errs, errors.New("booking_ref is required"))
	}
	if p.ShowID == "" {
		errs = append(errs, errors.New("show_id is required"))
	}
	return errors.Join(errs...)
}

// PaymentV1 is the payload of PaymentCharged, PaymentDeclined and
// PaymentRefunded.
type PaymentV1 struct {
	Handled
	BookingRef  string `json:"booking_ref"`
	UserID      string `json:"user_id,omitempty"`
	ChargeID    string `json:"charge_id,omitempty"`
	AmountCents int64  `json:"amount_cents,omitempty"`
}

// Validate reports what is wrong with a PaymentV1 payload (events.Check calls it).
func (p PaymentV1) Validate() error {
	if p.BookingRef == "" {
		return errors.Join(p.Handled.Validate(), errors.New("booking_ref is required"))
	}
	return p.Handled.Validate()
}

// NotificationSentV1 records a message delivered to a user.
type NotificationSentV1 struct {
	Handled
	BookingRef string `json:"booking_ref"`
	UserID     string `json:"user_id"`
	// Step is the saga step that asked: the user is told once per booking
	// and step, however often the step is retried.
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
	// Channel says how the user was told; added in version 2 (version 1
	// records are upcast to "email").
	Channel string `json:"channel,omitempty"`
}

// Validate reports what is wrong with a NotificationSentV1 payload (events.Check calls it).
func (p NotificationSentV1) Validate() error {
	var errs []error
	errs = append(errs, p.Handled.Validate())
	if p.BookingRef == "" {
		errs = append(errs, errors.New("booking_ref is required"))
	}
	if p.UserID == "" {
		errs = append(errs, errors.New("user_id is required"))
	}
	return errors.Join(errs...)
}
