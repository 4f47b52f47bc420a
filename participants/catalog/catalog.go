// Package catalog says what the services need to know of users and shows
// before the logs say more: the Catalog a deployment injects (the demo
// seeds one, package demo; a real one reads a user directory). The product
// never names a user or show itself.
package catalog

// User is a person who may act in the system.
type User struct {
	ID      string
	Name    string
	Email   string
	Phone   string
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

// Catalog is the users and shows a part starts with. Each call returns
// fresh maps: callers own what they get.
type Catalog interface {
	Users() map[string]User
	Shows() map[string]Show
}

// Empty is a catalog without users or shows: every show comes from the
// logs, and no user is known.
type Empty struct{}

// Users returns no users.
func (Empty) Users() map[string]User { return map[string]User{} }

// Shows returns no shows.
func (Empty) Shows() map[string]Show { return map[string]Show{} }

var _ Catalog = Empty{}
