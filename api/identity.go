package api

import (
	"context"
	"fmt"
)

// Role is what an identity may do.
type Role string

// The roles. Anonymous is a request without a token.
const (
	RoleAnonymous  Role = "anonymous"
	RoleCustomer   Role = "customer"
	RoleBackoffice Role = "backoffice"
)

// ParseRole reads a role given by name; anonymous is not a role a token
// can carry.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleCustomer, RoleBackoffice:
		return r, nil
	default: // anonymous among them
		return "", fmt.Errorf("role must be customer or backoffice, got %q", s)
	}
}

// Identity is who is acting, as verified from a token; it is never taken
// from a request's body or headers other than the verified token.
type Identity struct {
	// Subject is the token's sub: the user id of a customer, the staff
	// member's name for back office.
	Subject string
	Role    Role
	Issuer  string
}

// Anonymous reports whether the request carried no token.
func (id Identity) Anonymous() bool { return id.Role == RoleAnonymous || id.Role == "" }

// Actor is the value of the actor header of the records posted on the
// identity's behalf: a customer acts as their user id, a back-office
// member as "backoffice:" and their name, so that a booking made for a
// customer records both (the staff member as actor, the customer in its
// data).
func (id Identity) Actor() string {
	if id.Role == RoleBackoffice {
		return "backoffice:" + id.Subject
	}
	return id.Subject
}

type identityKey struct{}

// IdentityFrom returns the verified identity of a request handled by the
// API's router, for handlers mounted next to it (the back-office pages).
func IdentityFrom(ctx context.Context) Identity {
	if id, ok := ctx.Value(identityKey{}).(Identity); ok {
		return id
	}
	return Identity{Role: RoleAnonymous}
}

func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}
