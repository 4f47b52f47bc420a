package notification_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/notification"
	"github.com/sagaflow/saga/participants/participanttest"
)

var t0 = participanttest.T0

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

func (c send) build(t testing.TB) (events.Envelope, events.CommandV1) {
	t.Helper()
	return participanttest.Command(t, participanttest.Cmd{Type: events.SendNotification, Saga: c.saga, Step: c.step,
		Attempt: c.attempt, Comp: c.comp, Data: events.BookingData{BookingRef: c.ref, UserID: c.user, ShowID: "show-1", Seats: 2},
		Actor: c.user, Correlation: c.ref, Key: c.user})
}

// harness drives the notification service the way the runtime does, a
// command a minute.
type harness struct {
	*participanttest.Harness[*notification.Service]
}

func newHarness(t *testing.T) *harness {
	h := participanttest.New(t, func() *notification.Service { return notification.New(demo.Phones{}) })
	h.Tick = time.Minute
	return &harness{h}
}

// run handles and applies one command (participanttest.Harness.Run),
// checking that the event is a delivery or a bounce of the command.
func (h *harness) run(c send) (events.Envelope, events.NotificationSentV2) {
	h.T.Helper()
	cmd, p := c.build(h.T)
	ev := h.Run(cmd, p)
	n := participanttest.Payload[events.NotificationSentV2](h.T, cmd, ev)
	answer := n.Outcome == events.OutcomeSucceeded && n.Reason == "" ||
		n.Outcome == events.OutcomeRetryable && n.Reason == notification.ReasonBounced
	if ev.Type != events.NotificationSent || !answer || len(n.Reply) != 0 || n.CommandID != cmd.ID ||
		ev.SagaID != c.saga || ev.CorrelationID != c.ref || ev.Actor != c.user || ev.Key != c.user ||
		n.UserID != c.user || n.BookingRef != c.ref {
		h.T.Fatalf("answer wrong: %+v %+v", ev, n)
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
			h := newHarness(t)
			for _, c := range tt.sends {
				_, n := h.run(c)
				if n.Message != notification.Message(events.BookingData{BookingRef: c.ref, ShowID: "show-1", Seats: 2},
					c.step == notification.StepNotifyCancelled || c.comp) {
					t.Fatalf("message %q", n.Message)
				}
			}
			if got := h.Svc.Sent("alice"); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("sent %q, want %q", got, tt.want)
			}
			if len(h.Svc.Sent("bob")) != 0 {
				t.Fatal("bob got mail")
			}
		})
	}
}

// A redelivered command gets the very same event back, even much later.
func TestRedeliveryGetsSameEvent(t *testing.T) {
	h := newHarness(t)
	c := send{saga: "s1", step: "SendNotification", ref: "BK-1", user: "alice", attempt: 1}
	a, _ := h.run(c)
	b, _ := h.run(c)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("redelivery got a different event")
	}
	other := send{saga: "s9", step: "SendNotification", ref: "BK-2", user: "alice", attempt: 1}
	h.run(other)
	if len(h.Svc.Sent("alice")) != 2 || !h.Svc.Delivered("BK-2", "SendNotification") {
		t.Fatalf("sent %q", h.Svc.Sent("alice"))
	}
	// Sent returns a copy: the caller cannot change what was delivered.
	h.Svc.Sent("alice")[0] = "tampered"
	if h.Svc.Sent("alice")[0] != confirmed {
		t.Fatal("Sent exposes internal state")
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		typ  events.Type
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
			p := events.CommandV1{Step: "SendNotification", Attempt: 1, Data: json.RawMessage(tt.data)}
			if tt.mod != nil {
				tt.mod(&p)
			}
			cmd := events.MustNew(events.CommandID("s", "SendNotification", false, 1), tt.typ, p, events.Trace{SagaID: "s"}, "alice", t0)
			newHarness(t).Refuses(cmd, p)
		})
	}
	h := newHarness(t)
	h.RefusesEvent(events.MustNew("e", events.PaymentCharged, events.PaymentV1{}, events.Trace{}, "k", t0))
	if h.Svc.Name() != events.ServiceNotification {
		t.Fatal("wrong name")
	}
}
