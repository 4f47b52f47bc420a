// Package booking is the domain logic of the Booking participant: seat
// inventory per show and one reservation per booking reference. Commands
// for one show arrive in order on one partition (key: show id), so the
// checks here, made against the state folded so far, never oversell.
package booking

import (
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/participants/service"
)

// Status is where a booking reference's reservation stands.
type Status string

// Reservation statuses. Released is also the tombstone of a booking whose
// release overtook its ReserveSeats: a late reservation is then refused.
const (
	Reserved  Status = "reserved"
	Confirmed Status = "confirmed"
	Released  Status = "released"
	Rejected  Status = "rejected"
)

// holds reports whether a reservation in this status occupies seats.
func (st Status) holds() bool { return st == Reserved || st == Confirmed }

// Reservation is what the service knows of one booking reference.
type Reservation struct {
	ShowID      string
	UserID      string
	Status      Status
	Seats       int
	AmountCents int64
}

// show is one show's inventory. held counts seats of reserved and
// confirmed reservations and never exceeds capacity.
type show struct {
	capacity  int
	price     int64
	held      int
	cancelled bool
}

// Service implements service.Service for seat bookings.
type Service struct {
	shows        map[string]*show
	reservations map[string]Reservation
	// receipt signs a reservation's amount for the payment service; nil
	// when nothing is signed.
	receipt *receipts
}

var _ service.Service = (*Service)(nil)

// receipts is shared by the services one Option makes, so that two of
// them (a fold and the live one) compare equal.
type receipts struct {
	sign func(bookingRef string, amountCents int64) *events.Receipt
}

// Option configures a Service.
type Option func(*Service)

// SignReservations makes every reservation's reply carry a receipt for
// its amount, made by sign: the payment service charges that amount and no
// other, whoever asks it to.
func SignReservations(sign func(bookingRef string, amountCents int64) *events.Receipt) Option {
	r := &receipts{sign}
	return func(s *Service) { s.receipt = r }
}

// New returns a Service that starts with the shows of cat, all seats free,
// and learns every show added since from its own log.
func New(cat catalog.Catalog, opts ...Option) *Service {
	s := &Service{shows: map[string]*show{}, reservations: map[string]Reservation{}}
	for _, o := range opts {
		o(s)
	}
	for id, sh := range cat.Shows() {
		s.shows[id] = &show{capacity: sh.Capacity, price: sh.PriceCents, cancelled: sh.Cancelled}
	}
	return s
}

// Name is the service name; it owns booking.commands and booking.events.
func (s *Service) Name() string { return events.ServiceBooking }

// Held is the number of seats of showID that are reserved or confirmed.
func (s *Service) Held(showID string) int {
	if sh, ok := s.shows[showID]; ok {
		return sh.held
	}
	return 0
}

// Capacity is the number of seats of showID (0 for an unknown show).
func (s *Service) Capacity(showID string) int {
	if sh, ok := s.shows[showID]; ok {
		return sh.capacity
	}
	return 0
}

// Reservation returns what the service knows of a booking reference.
func (s *Service) Reservation(ref string) (Reservation, bool) {
	r, ok := s.reservations[ref]
	return r, ok
}

// amountReply is what a reservation adds to the saga data.
type amountReply struct {
	AmountCents int64           `json:"amount_cents"`
	Reservation *events.Receipt `json:"reservation,omitempty"`
}

// amountOf is the reply of a reservation of amount for ref.
func (s *Service) amountOf(ref string, amount int64) amountReply {
	r := amountReply{AmountCents: amount}
	if s.receipt != nil {
		r.Reservation = s.receipt.sign(ref, amount)
	}
	return r
}
