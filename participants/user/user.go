// Package user is the domain logic of the User participant: it answers
// VerifyUser from the catalogue it is given. It owns no mutable data except the
// commands it has answered, so a redelivered command gets the same reply.
package user

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
)

// Service implements participant.Service for users.
type Service struct {
	users map[string]catalog.User
	// handled maps a command id to the event that answered it, so the same
	// command id always gets the very same event (and reply) back.
	handled map[string]events.Envelope
}

// New returns a Service that knows the users of cat.
func New(cat catalog.Catalog) *Service {
	return &Service{users: cat.Users(), handled: map[string]events.Envelope{}}
}

// Name is the service name; it owns user.commands and user.events.
func (s *Service) Name() string { return events.ServiceUser }

// Handle decides the event answering cmd. It never changes state.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if ev, ok := s.handled[cmd.ID]; ok {
		return ev, true, nil
	}
	if cmd.Type != events.VerifyUser {
		return events.Envelope{}, false, events.Malformed("user service does not handle %q", cmd.Type)
	}
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	if d.UserID == "" {
		return events.Envelope{}, false, events.Malformed("VerifyUser: user_id is required")
	}
	h := events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}
	typ := events.UserVerified
	u, known := s.users[d.UserID]
	switch {
	case !known:
		typ, h.Outcome, h.Reason = events.UserRejected, events.OutcomeFailed, fmt.Sprintf("unknown user %q", d.UserID)
	case u.Blocked:
		typ, h.Outcome, h.Reason = events.UserRejected, events.OutcomeFailed, fmt.Sprintf("user %q is blocked", d.UserID)
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ,
		events.UserCheckedV1{Handled: h, UserID: d.UserID}, events.TraceOf(cmd), d.UserID, now)
	return ev, err == nil, err
}

// Apply records that the event's command was answered. Verifying a user
// changes nothing else.
func (s *Service) Apply(e events.Envelope) error {
	if e.Type != events.UserVerified && e.Type != events.UserRejected {
		return events.Malformed("user service has no event %q", e.Type)
	}
	e, err := events.Check(e)
	if err != nil {
		return err
	}
	p, err := events.Decode[events.UserCheckedV1](e)
	if err != nil {
		return err
	}
	if _, seen := s.handled[p.CommandID]; !seen {
		s.handled[p.CommandID] = e
	}
	return nil
}

// Verified reports whether userID may book: known and not blocked.
func (s *Service) Verified(userID string) bool {
	u, ok := s.users[userID]
	return ok && !u.Blocked
}
