// Package catalog holds the seeded demo data every part of the product
// agrees on: who may book, what can be booked, which payment tokens do what.
package catalog

// User is a person who may act in the system.
type User struct {
	ID      string
	Name    string
	Email   string
	Blocked bool
}

// Show is something with seats to sell.
type Show struct {
	ID         string
	Title      string
	Venue      string
	City       string
	State      string
	Country    string
	Capacity   int
	PriceCents int64
	// Cancelled shows take reservations but refuse to confirm them: the
	// saga fails after the charge, so it is refunded and the seats released
	// (compensations in reverse order).
	Cancelled bool
}

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
func Users() map[string]User {
	return map[string]User{
		"alice":   {ID: "alice", Name: "Alice", Email: "alice@example.com"},
		"bob":     {ID: "bob", Name: "Bob", Email: "bob@example.com"},
		"mallory": {ID: "mallory", Name: "Mallory", Email: "mallory@example.com", Blocked: true},
		UserCarol: {ID: UserCarol, Name: "Carol", Email: "carol@example.com"},
	}
}

// Shows returns the demo shows, keyed by id.
func Shows() map[string]Show {
	return map[string]Show{
		"show-1": {ID: "show-1", Title: "The Distributed Symphony", Venue: "Orchestra Hall",
			City: "Chicago", State: "IL", Country: "US", Capacity: 100, PriceCents: 2500},
		"show-small": {ID: "show-small", Title: "A Very Small Gig", Venue: "The Back Room",
			City: "Austin", State: "TX", Country: "US", Capacity: 2, PriceCents: 4000},
		"show-cancelled": {ID: "show-cancelled", Title: "The Show That Was Not", Venue: "Empty Arena",
			City: "Denver", State: "CO", Country: "US", Capacity: 50, PriceCents: 3000, Cancelled: true},
	}
}
