package notification_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/notification"
)

// service mirrors participant.Service without importing the runtime.
type service interface {
	Name() string
	Apply(e events.Envelope) error
	Handle(cmd events.Envelope, payload events.CommandV1, now time.Time) (events.Envelope, bool, error)
}

var _ service = (*notification.Service)(nil)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	confirmed = "Your booking BK-1 for 2 seat(s) at show-1 is confirmed."
	cancelled = "Your booking BK-1 for 2 seat(s) at show-1 has been cancelled."
)

// send is one SendNotification attempt of a saga step.
type send struct {
	saga, step, ref, user string
	attempt               int
	comp                  bool
}

func (c send) build(t *testing.T) (events.Envelope, events.CommandV1) {
	t.Helper()
	raw, _ := json.Marshal(events.BookingData{BookingRef: c.ref, UserID: c.user, ShowID: "show-1", Seats: 2})
	p := events.CommandV1{Step: c.step, Attempt: c.attempt, Compensation: c.comp, Data: raw}
	env, err := events.New(events.CommandID(c.saga, c.step, c.comp, c.attempt), events.SendNotification, p,
		events.Trace{SagaID: c.saga, CorrelationID: c.ref, Actor: c.user}, c.user, t0)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

// harness drives the service as the runtime does and keeps its log.
type harness struct {
	t   *testing.T
	svc *notification.Service
	log []events.Envelope
}

func fold(t *testing.T, log []events.Envelope) *notification.Service {
	s := notification.New(demo.Phones{})
	for _, e := range log {
		if err := s.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run handles and applies one command, checking that Handle changed
// nothing, that the event is a delivery or a bounce of the command, and
// that folding the log from scratch gives the live state.
func (h *harness) run(c send) (events.Envelope, events.NotificationSentV1) {
	h.t.Helper()
	cmd, p := c.build(h.t)
	ev, ok, err := h.svc.Handle(cmd, p, t0.Add(time.Duration(len(h.log))*time.Minute))
	if err != nil || !ok {
		h.t.Fatalf("ok=%v err=%v", ok, err)
	}
	if !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatal("Handle changed state")
	}
	if _, err := events.Check(ev); err != nil {
		h.t.Fatal(err)
	}
	n := events.MustDecode[events.NotificationSentV1](ev)
	answer := n.Outcome == events.OutcomeSucceeded && n.Reason == "" ||
		n.Outcome == events.OutcomeRetryable && n.Reason == notification.ReasonBounced
	if ev.Type != events.NotificationSent || !answer || len(n.Reply) != 0 || n.CommandID != cmd.ID ||
		ev.ID != events.DerivedID(cmd.ID, "event") || ev.CausationID != cmd.ID || ev.SagaID != c.saga ||
		ev.CorrelationID != c.ref || ev.Actor != c.user || ev.Key != c.user || n.UserID != c.user || n.BookingRef != c.ref {
		h.t.Fatalf("answer wrong: %+v %+v", ev, n)
	}
	if err := h.svc.Apply(ev); err != nil {
		h.t.Fatal(err)
	}
	h.log = append(h.log, ev)
	if !reflect.DeepEqual(h.svc, fold(h.t, h.log)) {
		h.t.Fatal("folding the log does not rebuild the live state")
	}
	return ev, n
}

func TestSend(t *testing.T) {
	book := send{saga: "s1", step: "SendNotification", ref: "BK-1", user: "alice", attempt: 1}
	cancel := send{saga: "s2", step: notification.StepNotifyCancelled, ref: "BK-1", user: "alice", attempt: 1}
	retry := func(c send, n int) send { c.attempt = n; return c }
	tests := []struct {
		name  string
		sends []send
		want  []string
	}{
		{"confirmation", []send{book}, []string{confirmed}},
		{"another attempt sends nothing more", []send{book, retry(book, 2), retry(book, 3)}, []string{confirmed}},
		{"same command id twice", []send{book, book}, []string{confirmed}},
		{"cancellation", []send{cancel}, []string{cancelled}},
		{"confirmation then cancellation", []send{book, cancel, retry(cancel, 2), retry(book, 4)}, []string{confirmed, cancelled}},
		{"compensation says cancelled", []send{{saga: "s3", step: "SendNotification", ref: "BK-1", user: "alice", attempt: 1, comp: true}}, []string{cancelled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &harness{t: t, svc: notification.New(demo.Phones{})}
			for _, c := range tt.sends {
				_, n := h.run(c)
				if n.Message != notification.Message(events.BookingData{BookingRef: c.ref, ShowID: "show-1", Seats: 2},
					c.step == notification.StepNotifyCancelled || c.comp) {
					t.Fatalf("message %q", n.Message)
				}
			}
			if got := h.svc.Sent("alice"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("sent %q, want %q", got, tt.want)
			}
			if len(h.svc.Sent("bob")) != 0 {
				t.Fatal("bob got mail")
			}
		})
	}
}

// A redelivered command gets the very same event back, even much later.
func TestRedeliveryGetsSameEvent(t *testing.T) {
	h := &harness{t: t, svc: notification.New(demo.Phones{})}
	c := send{saga: "s1", step: "SendNotification", ref: "BK-1", user: "alice", attempt: 1}
	a, _ := h.run(c)
	b, _ := h.run(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("redelivery got a different event")
	}
	other := send{saga: "s9", step: "SendNotification", ref: "BK-2", user: "alice", attempt: 1}
	h.run(other)
	if len(h.svc.Sent("alice")) != 2 || !h.svc.Delivered("BK-2", "SendNotification") {
		t.Fatalf("sent %q", h.svc.Sent("alice"))
	}
	// Sent returns a copy: the caller cannot change what was delivered.
	h.svc.Sent("alice")[0] = "tampered"
	if h.svc.Sent("alice")[0] != confirmed {
		t.Fatal("Sent exposes internal state")
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data string
		mod  func(*events.CommandV1)
	}{
		{"no user", events.SendNotification, `{"booking_ref":"BK-1","show_id":"show-1","seats":2}`, nil},
		{"no booking_ref", events.SendNotification, `{"user_id":"alice","show_id":"show-1","seats":2}`, nil},
		{"no show", events.SendNotification, `{"booking_ref":"BK-1","user_id":"alice","seats":2}`, nil},
		{"no seats", events.SendNotification, `{"booking_ref":"BK-1","user_id":"alice","show_id":"show-1"}`, nil},
		{"not an object", events.SendNotification, `[]`, nil},
		{"wrong types", events.SendNotification, `{"booking_ref":1}`, nil},
		{"other service's command", events.ChargePayment, `{"booking_ref":"BK-1","user_id":"alice","show_id":"show-1","seats":2}`, nil},
		{"attempt zero", events.SendNotification, `{"booking_ref":"BK-1","user_id":"alice","show_id":"show-1","seats":2}`,
			func(p *events.CommandV1) { p.Attempt = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := notification.New(demo.Phones{})
			p := events.CommandV1{Step: "SendNotification", Attempt: 1, Data: json.RawMessage(tt.data)}
			if tt.mod != nil {
				tt.mod(&p)
			}
			cmd := events.MustNew(events.CommandID("s", "SendNotification", false, 1), tt.typ, p, events.Trace{SagaID: "s"}, "alice", t0)
			if _, ok, err := s.Handle(cmd, p, t0); !errors.Is(err, events.ErrMalformed) || ok {
				t.Fatalf("ok=%v err=%v, want malformed", ok, err)
			}
			if !reflect.DeepEqual(s, notification.New(demo.Phones{})) {
				t.Fatal("state changed")
			}
		})
	}
	s := notification.New(demo.Phones{})
	if err := s.Apply(events.MustNew("e", events.PaymentCharged, events.PaymentV1{}, events.Trace{}, "k", t0)); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("Apply(foreign) = %v", err)
	}
	if s.Name() != events.ServiceNotification {
		t.Fatal("wrong name")
	}
}
