package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

func validBooking() events.BookingData {
	return events.BookingData{UserID: "u1", ShowID: "s1", Seats: 2, PaymentToken: "tok"}
}

func validCancel() events.BookingData {
	return events.BookingData{BookingRef: "BK-AAAAAAAA", UserID: "u1", ShowID: "s1", Seats: 2}
}

// countLines is the number of problems an errors.Join reports.
func countLines(err error) int {
	if err == nil {
		return 0
	}
	return len(strings.Split(err.Error(), "\n"))
}

func TestValidateBooking(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*events.BookingData)
		wants []string
	}{
		{"valid", func(*events.BookingData) {}, nil},
		{"1 seat", func(d *events.BookingData) { d.Seats = 1 }, nil},
		{"max seats", func(d *events.BookingData) { d.Seats = events.MaxSeats }, nil},
		{"booking ref not needed", func(d *events.BookingData) { d.BookingRef = "" }, nil},
		{"no user", func(d *events.BookingData) { d.UserID = "" }, []string{"user_id is required"}},
		{"no show", func(d *events.BookingData) { d.ShowID = "" }, []string{"show_id is required"}},
		{"0 seats", func(d *events.BookingData) { d.Seats = 0 }, []string{"seats must be between 1 and 10, got 0"}},
		{"negative seats", func(d *events.BookingData) { d.Seats = -2 }, []string{"seats must be between 1 and 10, got -2"}},
		{"too many seats", func(d *events.BookingData) { d.Seats = events.MaxSeats + 1 }, []string{"seats must be between 1 and 10, got 11"}},
		{"no payment token", func(d *events.BookingData) { d.PaymentToken = "" }, []string{"payment_token is required"}},
		{"everything wrong", func(d *events.BookingData) { *d = events.BookingData{Seats: 99} },
			[]string{"user_id is required", "show_id is required", "seats must be between 1 and 10, got 99", "payment_token is required"}},
		{"zero value", func(d *events.BookingData) { *d = events.BookingData{} },
			[]string{"user_id is required", "show_id is required", "got 0", "payment_token is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validBooking()
			tt.edit(&d)
			err := d.ValidateBooking()
			if tt.wants == nil {
				if err != nil {
					t.Fatalf("ValidateBooking(%+v) = %v", d, err)
				}
				return
			}
			wantMentions(t, err, tt.wants...)
			if n := countLines(err); n != len(tt.wants) {
				t.Errorf("%d problems reported (%q), want %d", n, err, len(tt.wants))
			}
		})
	}
}

func TestValidateCancel(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*events.BookingData)
		wants []string
	}{
		{"valid", func(*events.BookingData) {}, nil},
		{"payment token not needed", func(d *events.BookingData) { d.PaymentToken = "" }, nil},
		{"max seats", func(d *events.BookingData) { d.Seats = events.MaxSeats }, nil},
		{"no booking ref", func(d *events.BookingData) { d.BookingRef = "" }, []string{"booking_ref is required"}},
		{"no user", func(d *events.BookingData) { d.UserID = "" }, []string{"user_id is required"}},
		{"no show", func(d *events.BookingData) { d.ShowID = "" }, []string{"show_id is required"}},
		{"0 seats", func(d *events.BookingData) { d.Seats = 0 }, []string{"seats must be between 1 and 10, got 0"}},
		{"too many seats", func(d *events.BookingData) { d.Seats = 11 }, []string{"got 11"}},
		{"everything wrong", func(d *events.BookingData) { *d = events.BookingData{Seats: -1, PaymentToken: "tok"} },
			[]string{"booking_ref is required", "user_id is required", "show_id is required", "seats must be between 1 and 10, got -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validCancel()
			tt.edit(&d)
			err := d.ValidateCancel()
			if tt.wants == nil {
				if err != nil {
					t.Fatalf("ValidateCancel(%+v) = %v", d, err)
				}
				return
			}
			wantMentions(t, err, tt.wants...)
			if n := countLines(err); n != len(tt.wants) {
				t.Errorf("%d problems reported (%q), want %d", n, err, len(tt.wants))
			}
		})
	}
}

// The seat bound is MaxSeats, named in the message, on both requests.
func TestSeatBoundaries(t *testing.T) {
	for seats := -1; seats <= events.MaxSeats+2; seats++ {
		ok := seats >= 1 && seats <= events.MaxSeats
		b, c := validBooking(), validCancel()
		b.Seats, c.Seats = seats, seats
		for name, err := range map[string]error{"booking": b.ValidateBooking(), "cancel": c.ValidateCancel()} {
			if (err == nil) != ok {
				t.Errorf("%s with %d seats: err = %v, want ok = %v", name, seats, err, ok)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("between 1 and %d, got %d", events.MaxSeats, seats)) {
				t.Errorf("%s with %d seats: %v", name, seats, err)
			}
		}
	}
}

// The Validate methods report plain errors; only the registry turns them
// into MalformedErrors.
func TestValidateMethods(t *testing.T) {
	obj := json.RawMessage(`{}`)
	h := events.Handled{CommandID: "c", Outcome: events.OutcomeSucceeded}
	tests := []struct {
		name  string
		v     events.Validator
		wants []string // nil: valid
	}{
		{"StartSaga valid", events.StartSagaV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: obj}, nil},
		{"StartSaga zero", events.StartSagaV1{}, []string{"definition is required", "idempotency_key is required", "booking_ref is required", "data must be a JSON object"}},
		{"StartSaga data empty array", events.StartSagaV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: json.RawMessage(`[]`)}, []string{"data must be a JSON object"}},
		{"StartSaga data null", events.StartSagaV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: json.RawMessage(`null`)}, []string{"data must be a JSON object"}},
		{"StartSaga data invalid JSON", events.StartSagaV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: json.RawMessage(`{`)}, []string{"data must be a JSON object"}},
		{"StartSaga data padded object", events.StartSagaV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: json.RawMessage(" {\"a\":[1]} ")}, nil},
		{"SagaStarted zero", events.SagaStartedV1{}, []string{"definition is required", "idempotency_key is required", "booking_ref is required", "data must be a JSON object"}},
		{"SagaStarted valid", events.SagaStartedV1{Definition: "d", IdempotencyKey: "k", BookingRef: "b", Data: obj}, nil},

		{"Step valid", events.StepV1{Step: "s", Attempt: 1}, nil},
		{"Step zero", events.StepV1{}, []string{"step is required", "attempt must be at least 1, got 0"}},
		{"StepStarted zero", events.StepStartedV1{}, []string{"step is required", "attempt must be at least 1, got 0", "command_id is required", "command is required"}},
		{"StepStarted valid without deadline", events.StepStartedV1{StepV1: events.StepV1{Step: "s", Attempt: 1}, CommandID: "c", Command: "C"}, nil},
		{"StepSucceeded no result", events.StepSucceededV1{StepV1: events.StepV1{Step: "s", Attempt: 1}}, nil},
		{"StepSucceeded empty result object", events.StepSucceededV1{StepV1: events.StepV1{Step: "s", Attempt: 1}, Result: obj}, nil},
		{"StepSucceeded result array", events.StepSucceededV1{StepV1: events.StepV1{Step: "s", Attempt: 1}, Result: json.RawMessage(`[{}]`)}, []string{"result must be a JSON object"}},
		{"StepSucceeded result and step", events.StepSucceededV1{Result: json.RawMessage(`1`)}, []string{"result must be a JSON object", "step is required", "attempt must be at least 1"}},
		{"StepFailed zero", events.StepFailedV1{Reason: "r"}, []string{"step is required", "attempt must be at least 1"}},
		{"StepFailed valid", events.StepFailedV1{StepV1: events.StepV1{Step: "s", Attempt: 9}}, nil},
		{"SagaEnded zero", events.SagaEndedV1{}, nil},

		{"StepReply succeeded", events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeSucceeded}, nil},
		{"StepReply failed", events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeFailed, Reason: "no"}, nil},
		{"StepReply retryable", events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeRetryable}, nil},
		{"StepReply with data", events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeSucceeded, Data: obj}, nil},
		{"StepReply zero", events.StepReplyV1{}, []string{"command_id is required", `outcome must be succeeded, failed or retryable, got ""`}},
		{"StepReply data not object", events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeSucceeded, Data: json.RawMessage(`true`)}, []string{"data must be a JSON object"}},

		{"Command valid", events.CommandV1{Step: "s", Attempt: 1, Data: obj}, nil},
		{"Command zero", events.CommandV1{}, []string{"step is required", "attempt must be at least 1, got 0", "data must be a JSON object"}},
		{"Command attempt 0", events.CommandV1{Step: "s", Data: obj}, []string{"attempt must be at least 1, got 0"}},

		{"Handled valid", h, nil},
		{"Handled zero", events.Handled{}, []string{"command_id is required", `got ""`}},
		{"Handled bad outcome", events.Handled{CommandID: "c", Outcome: "yes"}, []string{`got "yes"`}},
		{"UserChecked zero", events.UserCheckedV1{}, []string{"command_id is required", "outcome must be"}},
		{"NotificationSent zero", events.NotificationSentV1{}, []string{"command_id is required", "outcome must be", "booking_ref is required", "user_id is required"}},

		{"Seats valid", events.SeatsV1{Handled: h, BookingRef: "b", ShowID: "s"}, nil},
		{"Seats zero", events.SeatsV1{}, []string{"command_id is required", "outcome must be", "booking_ref is required", "show_id is required"}},
		{"Seats no show", events.SeatsV1{Handled: h, BookingRef: "b"}, []string{"show_id is required"}},
		{"Payment valid", events.PaymentV1{Handled: h, BookingRef: "b"}, nil},
		{"Payment zero", events.PaymentV1{}, []string{"command_id is required", "outcome must be", "booking_ref is required"}},
		{"Payment no booking ref", events.PaymentV1{Handled: h}, []string{"booking_ref is required"}},
		{"Payment bad handled", events.PaymentV1{BookingRef: "b"}, []string{"command_id is required", "outcome must be"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.v.Validate()
			if tt.wants == nil {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			wantMentions(t, err, tt.wants...)
			if n := countLines(err); n != len(tt.wants) {
				t.Errorf("%d problems reported (%q), want %d", n, err, len(tt.wants))
			}
			if errors.Is(err, events.ErrMalformed) {
				t.Errorf("Validate returned a MalformedError directly: %v", err)
			}
		})
	}
}

func TestMalformedError(t *testing.T) {
	err := events.Malformed("bad %s %d", "thing", 3)
	if err.Error() != "malformed message: bad thing 3" {
		t.Fatalf("Error() = %q", err.Error())
	}
	wantMalformed(t, err, "bad thing 3")
	var me *events.MalformedError
	errors.As(err, &me)
	if me.Reason != "bad thing 3" {
		t.Fatalf("Reason = %q", me.Reason)
	}
	wrapped := fmt.Errorf("handler: %w", err)
	if !errors.Is(wrapped, events.ErrMalformed) || !errors.As(wrapped, &me) {
		t.Fatal("a wrapped MalformedError is not recognised")
	}
	if errors.Is(errors.New("malformed message: x"), events.ErrMalformed) {
		t.Fatal("an error that only looks malformed is recognised")
	}
	if errors.Is(err, errors.New("malformed message")) {
		t.Fatal("MalformedError matches any error, not only ErrMalformed")
	}
	if !errors.Is(errors.Join(errors.New("other"), err), events.ErrMalformed) {
		t.Fatal("a joined MalformedError is not recognised")
	}
}

func TestTopics(t *testing.T) {
	want := []string{"user", "booking", "payment", "notification"}
	got := events.Services()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Services = %v, want %v", got, want)
	}
	got[0] = "mutated"
	if events.Services()[0] != "user" {
		t.Fatal("Services returns a shared slice")
	}
	if events.CommandTopic(events.ServicePayment) != "payment.commands" || events.DomainTopic(events.ServiceBooking) != "booking.events" {
		t.Fatalf("CommandTopic/DomainTopic = %q/%q", events.CommandTopic(events.ServicePayment), events.DomainTopic(events.ServiceBooking))
	}
	topics := map[string]bool{}
	for _, s := range events.Services() {
		topics[events.CommandTopic(s)], topics[events.DomainTopic(s)] = true, true
	}
	for _, tp := range []string{events.TopicRequests, events.TopicSagaLog, events.TopicReplies, events.TopicDLQ} {
		if topics[tp] {
			t.Errorf("topic %q is also a participant topic", tp)
		}
		topics[tp] = true
	}
	if len(topics) != 4+2*len(want) {
		t.Fatalf("topic names collide: %v", topics)
	}
}
