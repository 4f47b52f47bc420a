package flows_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func TestAllShipsValidDefinitions(t *testing.T) {
	defs := flows.All()
	names := []string{flows.BookTicket, flows.CancelBooking, flows.AddShow,
		flows.UserSignup, flows.ImportUser, flows.BlockUser, flows.Unblock}
	if len(defs) != len(names) {
		t.Fatalf("All() has %d definitions", len(defs))
	}
	for _, name := range names {
		d, ok := defs[name]
		if !ok {
			t.Fatalf("All() lacks %s", name)
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if d.ValidateData == nil {
			t.Errorf("%s: no request validation", name)
		}
	}
}

// step is the part of a saga.Step the architecture fixes.
type step struct {
	name, service         string
	command, compensation events.Type
	key                   string
	pivot                 bool
}

func shape(d saga.Definition) []step {
	var out []step
	for _, s := range d.Steps {
		out = append(out, step{s.Name, s.Service, s.Command, s.Compensation, s.KeyField, s.Pivot})
	}
	return out
}

func TestDefinitionShapes(t *testing.T) {
	tests := []struct {
		def  saga.Definition
		want []step
	}{
		{flows.BookTicketDefinition(), []step{
			{"VerifyUser", "user", events.VerifyUser, "", "user_id", false},
			{"ReserveSeats", "booking", events.ReserveSeats, events.ReleaseSeats, "show_id", false},
			{"ChargePayment", "payment", events.ChargePayment, events.RefundPayment, "booking_ref", false},
			{"ConfirmBooking", "booking", events.ConfirmBooking, "", "show_id", true},
			{"SendNotification", "notification", events.SendNotification, "", "user_id", false},
		}},
		{flows.CancelBookingDefinition(), []step{
			{"RefundPayment", "payment", events.RefundPayment, "", "booking_ref", true},
			{"ReleaseSeats", "booking", events.ReleaseSeats, "", "show_id", false},
			{"NotifyCancelled", "notification", events.SendNotification, "", "user_id", false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.def.Name, func(t *testing.T) {
			got := shape(tc.def)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("steps:\n%v\nwant\n%v", got, tc.want)
			}
			for _, s := range tc.def.Steps {
				if s.Timeout != 10*time.Second || s.Retry.MaxAttempts != 3 || s.Retry.Backoff <= 0 || s.Retry.MaxBackoff < s.Retry.Backoff {
					t.Errorf("%s: timeout %s retry %+v", s.Name, s.Timeout, s.Retry)
				}
				if !events.Known(s.Command) || (s.Compensation != "" && !events.Known(s.Compensation)) {
					t.Errorf("%s: command %q or compensation %q is not a registered type", s.Name, s.Command, s.Compensation)
				}
				if !strings.Contains(strings.Join(events.Services(), " "), s.Service) {
					t.Errorf("%s: unknown service %q", s.Name, s.Service)
				}
			}
			if p := tc.def.CompensationRetry; p.MaxAttempts != 5 || p.Backoff <= 0 || p.MaxBackoff < p.Backoff {
				t.Errorf("compensation retry %+v", p)
			}
		})
	}
}

func TestValidateData(t *testing.T) {
	tests := []struct {
		def, data string
		want      string // "" for valid
	}{
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":1,"payment_token":"t"}`, ""},
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":10,"payment_token":"t"}`, ""},
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":0,"payment_token":"t"}`, "seats"},
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":11,"payment_token":"t"}`, "seats"},
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":-1,"payment_token":"t"}`, "seats"},
		{flows.BookTicket, `{"show_id":"s","seats":1,"payment_token":"t"}`, "user_id"},
		{flows.BookTicket, `{"user_id":"u","seats":1,"payment_token":"t"}`, "show_id"},
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":1}`, "payment_token"},
		{flows.BookTicket, `{}`, "payment_token"},
		{flows.BookTicket, `{"seats":"two"}`, "seats"},
		{flows.BookTicket, `[1]`, "JSON object"},
		{flows.CancelBooking, `{"booking_ref":"BK","user_id":"u","show_id":"s","seats":2}`, ""},
		{flows.CancelBooking, `{"user_id":"u","show_id":"s","seats":2}`, "booking_ref"},
		{flows.CancelBooking, `{"booking_ref":"BK","user_id":"u","seats":2}`, "show_id"},
		{flows.CancelBooking, `{"booking_ref":"BK","user_id":"u","show_id":"s"}`, "seats"},
		{flows.CancelBooking, `{"booking_ref":"BK","user_id":"u","show_id":"s","seats":11}`, "seats"},
	}
	defs := flows.All()
	for _, tc := range tests {
		err := defs[tc.def].ValidateData(json.RawMessage(tc.data))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %s: %v", tc.def, tc.data, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %s: err %v, want one naming %q", tc.def, tc.data, err, tc.want)
		}
	}
	// Every problem at once.
	err := defs[flows.BookTicket].ValidateData(json.RawMessage(`{}`))
	for _, want := range []string{"user_id", "show_id", "seats", "payment_token"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty request: %v does not name %s", err, want)
		}
	}
}

// TestDefinitionsRun drives each shipped definition to its end with every
// participant agreeing, through the engine: the definitions are data the
// generic machine runs, with no code of their own.
func TestDefinitionsRun(t *testing.T) {
	m := saga.NewMachine(flows.All())
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		def, data string
		commands  []string
	}{
		{flows.BookTicket, `{"user_id":"u","show_id":"s","seats":1,"payment_token":"t"}`,
			[]string{"user.commands VerifyUser u", "booking.commands ReserveSeats s", "payment.commands ChargePayment BK-1",
				"booking.commands ConfirmBooking s", "notification.commands SendNotification u"}},
		{flows.CancelBooking, `{"booking_ref":"BK-1","user_id":"u","show_id":"s","seats":1}`,
			[]string{"payment.commands RefundPayment BK-1", "booking.commands ReleaseSeats s", "notification.commands SendNotification u"}},
	} {
		t.Run(tc.def, func(t *testing.T) {
			key := "k-" + tc.def
			// A booking's reference derives from its saga id; a
			// cancellation names the booking's.
			ref := "BK-1"
			if tc.def == flows.BookTicket {
				ref = events.BookingRefFor(events.SagaIDFor(key))
			}
			p := events.StartSagaV1{Definition: tc.def, IdempotencyKey: key, BookingRef: ref, Data: json.RawMessage(tc.data)}
			req := events.MustNew("req-1", events.StartSaga, p, events.Trace{SagaID: events.SagaIDFor(key), CorrelationID: ref, Actor: "u"}, key, t0)
			var s saga.State
			var in saga.Input = saga.Start{Request: req, Payload: p}
			var sent []string
			for i := 0; i < 20 && !s.Status.Terminal(); i++ {
				out, err := m.Decide(s, in, t0)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range out {
					if s, err = m.Apply(s, e); err != nil {
						t.Fatal(err)
					}
					if c, isCmd := m.Command(s, e); isCmd {
						sent = append(sent, c.Topic+" "+string(c.Envelope.Type)+" "+c.Envelope.Key)
						r := events.StepReplyV1{CommandID: c.Envelope.ID, Command: c.Envelope.Type, Outcome: events.OutcomeSucceeded}
						in = saga.Reply{Envelope: events.MustNew(events.DerivedID(c.Envelope.ID, "reply"), events.StepReply, r, events.TraceOf(c.Envelope), s.SagaID, t0), Payload: r}
					}
				}
			}
			if s.Status != saga.StatusCompleted {
				t.Fatalf("status %s", s.Status)
			}
			if fmt.Sprint(sent) != strings.ReplaceAll(fmt.Sprint(tc.commands), "BK-1", ref) {
				t.Errorf("commands:\n%v\nwant\n%v", sent, tc.commands)
			}
		})
	}
}

func TestAllPanicsNever(t *testing.T) {
	// NewDefinitions is what All relies on: it must accept the shipped pair
	// and refuse them twice.
	if _, err := saga.NewDefinitions(flows.BookTicketDefinition(), flows.CancelBookingDefinition()); err != nil {
		t.Fatal(err)
	}
	_, err := saga.NewDefinitions(flows.BookTicketDefinition(), flows.BookTicketDefinition())
	if err == nil || errors.Is(err, events.ErrMalformed) {
		t.Errorf("duplicate definitions: %v", err)
	}
}
