// Package demo is the demo data: who may book (alice, bob, carol,
// mallory), what can be booked (show-1, show-small, show-cancelled), which
// payment tokens do what, and whose phone bounces. It seeds the logs and
// the tests, and is injected where a part needs a catalogue, a payment
// processor or a phone (Catalog, Processor, Phones); no product package
// imports it (make lint checks).
package demo

import (
	"github.com/sagaflow/saga/participants/catalog"
)

// Payment tokens understood by the demo payment service. Any other token
// is declined as unknown.
const (
	// TokenOK is charged, and refunded when asked.
	TokenOK = "tok_ok"
	// TokenDeclined is declined: the charge fails for good and the saga
	// releases the seats again.
	TokenDeclined = "tok_declined"
	// TokenTimeout stands for a payment processor that never answers: the
	// payment service swallows every ChargePayment for it (no event, no
	// reply). The orchestrator's step deadline passes, the step is retried
	// by its policy and then the saga is compensated. The RefundPayment of
	// that compensation finds nothing charged: it succeeds with 0 refunded
	// and leaves a tombstone, so a charge arriving late is refused.
	TokenTimeout = "tok_timeout"
	// TokenRefundFails is charged like TokenOK, but the processor rejects
	// its refunds: every RefundPayment for such a charge is answered
	// retryable with "refund rejected by the payment processor", records
	// the failed attempt and refunds nothing, until the attempt number
	// passes RefundOutageAttempts (see there). The refund still happens at
	// most once.
	TokenRefundFails = "tok_refund_fails"
)

// RefundOutageAttempts is how long the refund outage of TokenRefundFails
// lasts, counted in attempts of the RefundPayment command: attempts 1 to
// RefundOutageAttempts fail, any later attempt succeeds. It equals the
// compensation retry policy's MaxAttempts, so the policy runs out and the
// saga is parked as failed. An attempt beyond it is only sent when an
// operator resumes the parked saga, so "attempt > RefundOutageAttempts"
// stands for "the operator fixed the payment processor, then ran
// `saga retry`": the fix is modelled as data in the command, and the
// service needs no switch to flip.
const RefundOutageAttempts = 5

// UserCarol is a valid user whose phone bounces messages: the notification
// service answers her first CarolBounces attempts of a SendNotification
// with outcome retryable ("message bounced"), records each bounce, and
// delivers on the next attempt. Steps after the pivot retry until they
// succeed, so she still gets exactly one message per booking and step.
const UserCarol = "carol"

// CarolBounces is how many attempts of each SendNotification to UserCarol
// bounce: attempts 1 to CarolBounces bounce, attempt CarolBounces+1
// delivers.
const CarolBounces = 3

// Users returns the demo users, keyed by id: alice and bob are valid,
// mallory is blocked, carol (UserCarol) is valid but her phone bounces the
// first messages. A fresh map each call: callers own what they get.
func Users() map[string]catalog.User {
	return map[string]catalog.User{
		"alice":   {ID: "alice", Name: "Alice", Email: "alice@example.com", Phone: "+15555550101"},
		"bob":     {ID: "bob", Name: "Bob", Email: "bob@example.com", Phone: "+15555550102"},
		"mallory": {ID: "mallory", Name: "Mallory", Email: "mallory@example.com", Phone: "+15555550103", Blocked: true},
		UserCarol: {ID: UserCarol, Name: "Carol", Email: "carol@example.com", Phone: "+15555550104"},
	}
}

// Shows returns the demo shows, keyed by id.
func Shows() map[string]catalog.Show {
	return map[string]catalog.Show{
		"show-1": {ID: "show-1", Title: "The Distributed Symphony", Venue: "Orchestra Hall",
			City: "Chicago", State: "IL", Country: "US", Capacity: 100, PriceCents: 2500},
		"show-small": {ID: "show-small", Title: "A Very Small Gig", Venue: "The Back Room",
			City: "Austin", State: "TX", Country: "US", Capacity: 2, PriceCents: 4000},
		"show-cancelled": {ID: "show-cancelled", Title: "The Show That Was Not", Venue: "Empty Arena",
			City: "Denver", State: "CO", Country: "US", Capacity: 50, PriceCents: 3000, Cancelled: true},
	}
}

// Catalog returns the demo users and shows as a catalog.Catalog.
func Catalog() catalog.Catalog { return demoCatalog{} }

type demoCatalog struct{}

func (demoCatalog) Users() map[string]catalog.User { return Users() }
func (demoCatalog) Shows() map[string]catalog.Show { return Shows() }

// Processor is the demo payment processor (payment.Processor): TokenOK
// and TokenRefundFails are charged, TokenDeclined is declined, TokenTimeout
// is never answered, any other token is declined as unknown; refunds of a
// TokenRefundFails charge are rejected up to RefundOutageAttempts.
type Processor struct{}

// Charge answers a charge with token.
func (Processor) Charge(token string) (charged bool, reason string, answered bool) {
	switch token {
	case TokenOK, TokenRefundFails:
		return true, "", true
	case TokenDeclined:
		return false, "card declined", true
	case TokenTimeout:
		return false, "", false
	default:
		// A decline's reason reaches the saga log and the read models:
		// it never names the token.
		return false, "unknown payment token", true
	}
}

// RefundRejected reports whether the processor rejects attempt of a
// refund of a charge made with token.
func (Processor) RefundRejected(token string, attempt int) bool {
	return token == TokenRefundFails && attempt <= RefundOutageAttempts
}

// Phones is the demo phone network (notification.Phones): UserCarol's
// phone bounces the first CarolBounces attempts of each message.
type Phones struct{}

// Bounces reports whether attempt of a message to userID bounces.
func (Phones) Bounces(userID string, attempt int) bool {
	return userID == UserCarol && attempt <= CarolBounces
}
