// Package notification is the domain logic of the Notification
// participant: it tells users what happened to their bookings, once per
// booking ref and purpose, however often the saga retries the step.
//
// The Phones it is given decide which attempts bounce (the demo's carol
// bounces her first three): those attempts are answered retryable and
// recorded, but deliver nothing.
package notification

import (
	"fmt"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/service"
)

// StepNotifyCancelled is the cancel-booking step whose message says the
// booking was cancelled rather than confirmed.
const StepNotifyCancelled = "NotifyCancelled"

// ReasonBounced is the reason of an attempt whose message bounced.
const ReasonBounced = "message bounced"

// purpose names one message: a booking ref and what it tells. The text
// stands for the step that asked, because NotificationSentV1 has no step
// field and Apply must rebuild this set from the log alone.
type purpose struct{ ref, what string }

// Service implements service.Service for notifications.
type Service struct {
	phones Phones
	// sent holds every user's delivered messages, oldest first.
	sent map[string][]string
	// delivered holds each purpose already told, so another attempt of the
	// same step is answered without a second message.
	delivered map[purpose]bool
}

var _ service.Service = (*Service)(nil)

// New returns a Service that has sent nothing.
func New(phones Phones) *Service {
	return &Service{phones: phones, sent: map[string][]string{}, delivered: map[purpose]bool{}}
}

// Name is the service name; it owns notification.commands and .events.
func (s *Service) Name() string { return events.ServiceNotification }

// Sent returns a copy of the messages delivered to userID, oldest first.
func (s *Service) Sent(userID string) []string {
	return append([]string(nil), s.sent[userID]...)
}

// Message is the text a user gets for a booking; cancelled says the
// booking was cancelled instead of confirmed.
func Message(d events.BookingData, cancelled bool) string {
	what := "is confirmed"
	if cancelled {
		what = "has been cancelled"
	}
	return fmt.Sprintf("Your booking %s for %d seat(s) at %s %s.", d.BookingRef, d.Seats, d.ShowID, what)
}

// Handle decides the event answering cmd. It never changes state: Apply
// delivers the message, once the event is written.
func (s *Service) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	if cmd.Type != events.SendNotification {
		return events.Envelope{}, false, events.Malformed("notification service does not handle %q", cmd.Type)
	}
	if p.Step == events.StepWelcome {
		return s.welcome(cmd, p, now)
	}
	d, err := p.Booking()
	if err != nil {
		return events.Envelope{}, false, err
	}
	switch {
	case d.UserID == "":
		return events.Envelope{}, false, events.Malformed("%s: user_id is required", cmd.Type)
	case d.BookingRef == "":
		return events.Envelope{}, false, events.Malformed("%s: booking_ref is required", cmd.Type)
	case d.ShowID == "":
		return events.Envelope{}, false, events.Malformed("%s: show_id is required", cmd.Type)
	case d.Seats < 1:
		return events.Envelope{}, false, events.Malformed("%s: seats must be positive, got %d", cmd.Type, d.Seats)
	}
	// A repeat is answered with the same event shape; Apply sees the purpose
	// already delivered and sends nothing more.
	msg := Message(d, p.Step == StepNotifyCancelled || p.Compensation)
	out := events.NotificationSentV2{
		Handled:    events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded},
		BookingRef: d.BookingRef, UserID: d.UserID, Step: p.Step, Message: msg, Channel: events.NotificationChannelEmail,
	}
	if s.phones.Bounces(d.UserID, p.Attempt) && !s.delivered[purposeOf(out)] {
		out.Outcome, out.Reason = events.OutcomeRetryable, ReasonBounced
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), events.NotificationSent, out, events.TraceOf(cmd), d.UserID, now)
	return ev, err == nil, err
}

// welcome decides the sign-up's welcome message. Its reference is the
// sign-up's ("signup:" and the user id), so a user is welcomed once.
func (s *Service) welcome(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	d, err := service.Data[events.UserData](p)
	if err != nil {
		return events.Envelope{}, false, err
	}
	if d.UserID == "" {
		return events.Envelope{}, false, events.Malformed("%s: user_id is required", cmd.Type)
	}
	out := events.NotificationSentV2{
		Handled:    events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded},
		BookingRef: "signup:" + d.UserID, UserID: d.UserID, Step: p.Step,
		Message: fmt.Sprintf("Welcome, %s! You can book shows now.", d.Name), Channel: events.NotificationChannelEmail,
	}
	if s.phones.Bounces(d.UserID, p.Attempt) && !s.delivered[purposeOf(out)] {
		out.Outcome, out.Reason = events.OutcomeRetryable, ReasonBounced
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), events.NotificationSent, out, events.TraceOf(cmd), d.UserID, now)
	return ev, err == nil, err
}

// Phones is the network messages go out on.
type Phones interface {
	// Bounces reports whether attempt of a message to userID bounces. A
	// message already delivered is not sent again, so it cannot bounce.
	Bounces(userID string, attempt int) bool
}

// Reliable is a network on which no message bounces.
type Reliable struct{}

// Bounces reports false.
func (Reliable) Bounces(string, int) bool { return false }

// Apply folds one of the service's own events into its state: the first
// succeeded event for a purpose delivers its message, later ones change
// nothing. An event with another outcome (a bounce) delivers nothing.
func (s *Service) Apply(e events.Envelope) error {
	if e.Type != events.NotificationSent {
		return events.Malformed("notification service has no event %q", e.Type)
	}
	_, p, err := events.CheckAs[events.NotificationSentV2](e)
	if err != nil {
		return err
	}
	if p.Outcome != events.OutcomeSucceeded {
		return nil
	}
	if k := purposeOf(p); !s.delivered[k] {
		s.delivered[k] = true
		s.sent[p.UserID] = append(s.sent[p.UserID], p.Message)
	}
	return nil
}

// Delivered reports whether the user was already told about ref by step.
func (s *Service) Delivered(ref, step string) bool { return s.delivered[purpose{ref, step}] }

// purposeOf is what a notification tells: a booking and the step that asked.
// Events written before steps were recorded fall back to their text.
func purposeOf(p events.NotificationSentV2) purpose {
	if p.Step == "" {
		return purpose{p.BookingRef, p.Message}
	}
	return purpose{p.BookingRef, p.Step}
}
