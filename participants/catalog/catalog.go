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
}

// Payment tokens understood by the demo payment service.
const (
	TokenOK       = "tok_ok"
	TokenDeclined = "tok_declined"
)

// Users returns the demo users, keyed by id. A fresh map each call: callers
// own what they get.
func Users() map[string]User {
	return map[string]User{
		"alice":   {ID: "alice", Name: "Alice", Email: "alice@example.com"},
		"bob":     {ID: "bob", Name: "Bob", Email: "bob@example.com"},
		"mallory": {ID: "mallory", Name: "Mallory", Email: "mallory@example.com", Blocked: true},
	}
}

// Shows returns the demo shows, keyed by id.
func Shows() map[string]Show {
	return map[string]Show{
		"show-1": {ID: "show-1", Title: "The Distributed Symphony", Venue: "Orchestra Hall",
			City: "Chicago", State: "IL", Country: "US", Capacity: 100, PriceCents: 2500},
		"show-small": {ID: "show-small", Title: "A Very Small Gig", Venue: "The Back Room",
			City: "Austin", State: "TX", Country: "US", Capacity: 2, PriceCents: 4000},
	}
}
