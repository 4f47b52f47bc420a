package events

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Participant command types (topic <service>.commands).
const (
	VerifyUser       Type = "VerifyUser"
	ReserveSeats     Type = "ReserveSeats"
	ReleaseSeats     Type = "ReleaseSeats"
	ConfirmBooking   Type = "ConfirmBooking"
	ChargePayment    Type = "ChargePayment"
	RefundPayment    Type = "RefundPayment"
	SendNotification Type = "SendNotification"
)

// CommandV1 is the payload of every command: which saga step sent it and
// the saga's data so far (its input merged with earlier steps' results).
type CommandV1 struct {
	Step         string          `json:"step"`
	Attempt      int             `json:"attempt"`
	Compensation bool            `json:"compensation,omitempty"`
	Data         json.RawMessage `json:"data"`
}

// Validate reports what is wrong with a CommandV1 payload (events.Check calls it).
func (p CommandV1) Validate() error {
	var errs []error
	if p.Step == "" {
		errs = append(errs, errors.New("step is required"))
	}
	if p.Attempt < 1 {
		errs = append(errs, fmt.Errorf("attempt must be at least 1, got %d", p.Attempt))
	}
	if !isObject(p.Data) {
		errs = append(errs, errors.New("data must be a JSON object"))
	}
	return errors.Join(errs...)
}

// Booking reads the saga data a command carries. Anything a participant
// cannot read is malformed, since no retry will make it readable.
func (p CommandV1) Booking() (BookingData, error) {
	var d BookingData
	if err := p.Validate(); err != nil {
		return d, Malformed("command: %v", err)
	}
	if err := json.Unmarshal(p.Data, &d); err != nil {
		return d, Malformed("command data: %v", err)
	}
	return d, nil
}

// MustJSON encodes a reply struct; plain structs cannot fail to encode.
func MustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode reply: %v", err))
	}
	return b
}

// BookingData is the saga data of the booking definitions: the request and
// what the steps add to it. Participants read the fields they need.
type BookingData struct {
	BookingRef   string `json:"booking_ref"`
	UserID       string `json:"user_id"`
	ShowID       string `json:"show_id"`
	Seats        int    `json:"seats"`
	PaymentToken string `json:"payment_token,omitempty"`
	AmountCents  int64  `json:"amount_cents,omitempty"`
	ChargeID     string `json:"charge_id,omitempty"`
	// Reservation is the booking service's receipt for AmountCents: the
	// payment service charges no other amount than the one it signed.
	Reservation *Receipt `json:"reservation,omitempty"`
}

// Receipt is a service's signature over a fact another service acts on,
// made and checked by the runtime's keys (the payload names neither).
type Receipt struct {
	// KeyID is the signer's key; Signatures are by the key id of each
	// reader it was signed for.
	KeyID      string            `json:"kid"`
	Signatures map[string]string `json:"sigs"`
}

// MaxSeats is the most seats one booking may hold.
const MaxSeats = 10

// ValidateBooking checks a book-ticket request's shape (not the catalogue).
func (d BookingData) ValidateBooking() error {
	var errs []error
	if d.UserID == "" {
		errs = append(errs, errors.New("user_id is required"))
	}
	if d.ShowID == "" {
		errs = append(errs, errors.New("show_id is required"))
	}
	if d.Seats < 1 || d.Seats > MaxSeats {
		errs = append(errs, fmt.Errorf("seats must be between 1 and %d, got %d", MaxSeats, d.Seats))
	}
	if d.PaymentToken == "" {
		errs = append(errs, errors.New("payment_token is required"))
	}
	return errors.Join(errs...)
}

// ValidateCancel checks a cancel-booking request's shape.
func (d BookingData) ValidateCancel() error {
	var errs []error
	if d.BookingRef == "" {
		errs = append(errs, errors.New("booking_ref is required"))
	}
	if d.UserID == "" {
		errs = append(errs, errors.New("user_id is required"))
	}
	if d.ShowID == "" {
		errs = append(errs, errors.New("show_id is required"))
	}
	if d.Seats < 1 || d.Seats > MaxSeats {
		errs = append(errs, fmt.Errorf("seats must be between 1 and %d, got %d", MaxSeats, d.Seats))
	}
	return errors.Join(errs...)
}
