// Package user is the domain logic of the User participant: users are its
// data, folded from its own log (user.events). A user is registered by a
// sign-up or an import, removed when a sign-up is compensated, blocked and
// unblocked by the back office; VerifyUser answers from that state.
//
// The catalogue a deployment injects is known before the log says more, as
// the booking service knows its catalogue's shows: its users are seeded into
// the log by import sagas at start, and VerifyUser need not wait for them.
package user

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/participants/service"
)

// account is what the service knows of one user.
type account struct {
	profile events.UserData
	// logged is set once the user's registration is in the log; until
	// then a catalogue user may still be imported.
	logged bool
	// saga is the saga whose registration logged the user: a later
	// attempt of that same step (sent again after a timeout, under a new
	// command id) finds the user as it asked, and is not refused.
	saga string
}

// Service implements service.Service for users.
type Service struct {
	users map[string]*account
}

var _ service.Service = (*Service)(nil)

// New returns a Service that knows the users of cat and learns every
// registration, removal and block since from its own log.
func New(cat catalog.Catalog) *Service {
	s := &Service{users: map[string]*account{}}
	for id, u := range cat.Users() {
		s.users[id] = &account{profile: Profile(u)}
	}
	return s
}

// Profile is the registration data of a catalogue user: what its import
// saga carries.
func Profile(u catalog.User) events.UserData {
	return events.UserData{UserID: u.ID, Name: u.Name, Email: u.Email, Phone: u.Phone, Blocked: u.Blocked}
}

// Name is the service name; it owns user.commands and user.events.
func (s *Service) Name() string { return events.ServiceUser }

// eventOf names the event answering each user command.
var eventOf = map[events.Type]events.Type{
	events.RegisterUser: events.UserRegistered,
	events.RemoveUser:   events.UserRemoved,
	events.BlockUser:    events.UserBlocked,
	events.UnblockUser:  events.UserUnblocked,
}

// Handle decides the event answering cmd. It never changes state.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if cmd.Type == events.VerifyUser {
		return s.verify(cmd, p, now)
	}
	typ, ok := eventOf[cmd.Type]
	if !ok {
		return events.Envelope{}, false, events.Malformed("user service does not handle %q", cmd.Type)
	}
	d, err := service.Data[events.UserData](p)
	if err != nil {
		return events.Envelope{}, false, err
	}
	if err := d.ValidateID(); err != nil {
		return events.Envelope{}, false, events.Malformed("%s: %v", cmd.Type, err)
	}
	h := events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}
	if p.Step != events.StepImportUser {
		d.Blocked = false // only an import registers a user blocked
	}
	if reason := s.refusal(cmd.Type, p.Step, cmd.SagaID, d); reason != "" {
		h.Outcome, h.Reason = events.OutcomeFailed, reason
	}
	out := events.UserChangedV1{Handled: h, UserData: events.UserData{UserID: d.UserID}}
	if cmd.Type == events.RegisterUser {
		out.UserData = d
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, out, events.TraceOf(cmd), d.UserID, now)
	return ev, err == nil, err
}

// refusal is why a user command cannot be done, or "" when it can.
// Removing a user who is not there succeeds: the compensation of a sign-up
// whose registration failed has nothing to undo.
func (s *Service) refusal(typ events.Type, step, sagaID string, d events.UserData) string {
	a, known := s.users[d.UserID]
	switch typ {
	case events.RegisterUser:
		switch {
		case known && a.logged && a.saga == sagaID && a.profile == d:
			// An earlier attempt of this saga registered it: done already.
		case known && (a.logged || step != events.StepImportUser || a.profile != d):
			return fmt.Sprintf("user id %q is taken", d.UserID)
		case !events.ValidPhone(d.Phone):
			return fmt.Sprintf("phone %q is not a valid number: want + and 8 to 15 digits, such as +15555550100", d.Phone)
		case d.Name == "":
			return "name is required"
		}
	case events.BlockUser, events.UnblockUser:
		if !known {
			return fmt.Sprintf("unknown user %q", d.UserID)
		}
	}
	return ""
}

func (s *Service) verify(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	if d.UserID == "" {
		return events.Envelope{}, false, events.Malformed("VerifyUser: user_id is required")
	}
	h := events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}
	typ := events.UserVerified
	a, known := s.users[d.UserID]
	switch {
	case !known:
		typ, h.Outcome, h.Reason = events.UserRejected, events.OutcomeFailed, fmt.Sprintf("unknown user %q", d.UserID)
	case a.profile.Blocked:
		typ, h.Outcome, h.Reason = events.UserRejected, events.OutcomeFailed, fmt.Sprintf("user %q is blocked", d.UserID)
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ,
		events.UserCheckedV1{Handled: h, UserID: d.UserID}, events.TraceOf(cmd), d.UserID, now)
	return ev, err == nil, err
}

// Apply folds one of the service's own events: a succeeded registration,
// removal, block or unblock changes the user; a verification or a refused
// command changes nothing.
func (s *Service) Apply(e events.Envelope) error {
	switch e.Type {
	case events.UserVerified, events.UserRejected:
		return s.applyChecked(e)
	case events.UserRegistered, events.UserRemoved, events.UserBlocked, events.UserUnblocked:
	default:
		return events.Malformed("user service has no event %q", e.Type)
	}
	e, p, err := events.CheckAs[events.UserChangedV1](e)
	if err != nil {
		return err
	}
	if p.Outcome != events.OutcomeSucceeded {
		return nil
	}
	a := s.users[p.UserID]
	switch e.Type {
	case events.UserRegistered:
		s.users[p.UserID] = &account{profile: p.UserData, logged: true, saga: e.SagaID}
	case events.UserRemoved:
		delete(s.users, p.UserID)
	case events.UserBlocked:
		if a != nil {
			a.profile.Blocked = true
		}
	case events.UserUnblocked:
		if a != nil {
			a.profile.Blocked = false
		}
	}
	return nil
}

// applyChecked folds a verification: it changes nothing, but the event
// must be one the service could have written.
func (s *Service) applyChecked(e events.Envelope) error {
	_, _, err := events.CheckAs[events.UserCheckedV1](e)
	return err
}

// Verified reports whether userID may book: known and not blocked.
func (s *Service) Verified(userID string) bool {
	a, ok := s.users[userID]
	return ok && !a.profile.Blocked
}

// User returns what the service knows of userID.
func (s *Service) User(userID string) (events.UserData, bool) {
	a, ok := s.users[userID]
	if !ok {
		return events.UserData{}, false
	}
	return a.profile, true
}
