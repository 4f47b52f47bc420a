package events_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
)

// validPayloads holds a valid payload of every registered type.
var validPayloads = map[events.Type]string{
	events.StartSaga:   `{"definition":"book-ticket","idempotency_key":"order-1","booking_ref":"BK-AAAAAAAA","data":{"user_id":"u1","show_id":"s1","seats":2,"payment_token":"tok"}}`,
	events.StepReply:   `{"command_id":"c1","command":"ReserveSeats","outcome":"succeeded","data":{"amount_cents":5000}}`,
	events.SagaStarted: `{"definition":"book-ticket","idempotency_key":"order-1","booking_ref":"BK-AAAAAAAA","data":{}}`,

	events.StepStarted:         `{"step":"ReserveSeats","attempt":1,"command_id":"c1","command":"ReserveSeats","deadline":"2025-03-14T15:09:56Z"}`,
	events.StepSucceeded:       `{"step":"ReserveSeats","attempt":1,"result":{"amount_cents":5000}}`,
	events.StepFailed:          `{"step":"ReserveSeats","attempt":2,"reason":"sold out"}`,
	events.StepTimedOut:        `{"step":"ReserveSeats","attempt":1,"reason":"timeout","retry_at":"2025-03-14T15:10:00Z"}`,
	events.CompensationStarted: `{"step":"ReserveSeats","attempt":1,"command_id":"c2","command":"ReleaseSeats","deadline":"2025-03-14T15:09:56Z"}`,
	events.StepCompensated:     `{"step":"ReserveSeats","attempt":1}`,
	events.CompensationFailed:  `{"step":"ReserveSeats","attempt":3,"reason":"down"}`,
	events.SagaCompleted:       `{}`,
	events.SagaCompensated:     `{"reason":"payment declined"}`,
	events.SagaFailed:          `{"reason":"compensation failed"}`,
	events.SagaResumed:         `{"reason":"refunds fixed"}`,
	events.SagaStuck:           `{"reason":"slo","step":"ChargePayment","slo":"1m3s","since":"2025-03-14T09:00:00Z"}`,
	events.DefinitionPublished: `{"name":"stay","version":"0123456789ab","spec":{"name":"stay"}}`,
	events.ResumeSaga:          `{"reason":"refunds fixed"}`,

	events.VerifyUser:       `{"step":"VerifyUser","attempt":1,"data":{"user_id":"u1"}}`,
	events.ReserveSeats:     `{"step":"ReserveSeats","attempt":1,"data":{"show_id":"s1","seats":2}}`,
	events.ReleaseSeats:     `{"step":"ReserveSeats","attempt":1,"compensation":true,"data":{}}`,
	events.ConfirmBooking:   `{"step":"ConfirmBooking","attempt":4,"data":{}}`,
	events.ChargePayment:    `{"step":"ChargePayment","attempt":1,"data":{"payment_token":"tok"}}`,
	events.RefundPayment:    `{"step":"ChargePayment","attempt":1,"compensation":true,"data":{"charge_id":"ch1"}}`,
	events.SendNotification: `{"step":"SendNotification","attempt":1,"data":{}}`,
	events.AddShow:          `{"step":"AddShow","attempt":1,"data":{"show_id":"s9"}}`,
	events.ShowAdded:        `{"command_id":"c1","outcome":"succeeded","show_id":"s9","title":"T","venue":"V","country":"US","capacity":5,"price_cents":100}`,
	events.RegisterUser:     `{"step":"RegisterUser","attempt":1,"data":{"user_id":"dave","name":"Dave","phone":"+15555550100"}}`,
	events.RemoveUser:       `{"step":"RegisterUser","attempt":1,"compensation":true,"data":{"user_id":"dave"}}`,
	events.BlockUser:        `{"step":"BlockUser","attempt":1,"data":{"user_id":"dave"}}`,
	events.UnblockUser:      `{"step":"UnblockUser","attempt":1,"data":{"user_id":"dave"}}`,
	events.UserRegistered:   `{"command_id":"c1","outcome":"succeeded","user_id":"dave","name":"Dave","phone":"+15555550100"}`,
	events.UserRemoved:      `{"command_id":"c1","outcome":"succeeded","user_id":"dave"}`,
	events.UserBlocked:      `{"command_id":"c1","outcome":"succeeded","user_id":"dave"}`,
	events.UserUnblocked:    `{"command_id":"c1","outcome":"failed","reason":"unknown user","user_id":"dave"}`,

	events.UserVerified:     `{"command_id":"c1","outcome":"succeeded","user_id":"u1"}`,
	events.UserRejected:     `{"command_id":"c1","outcome":"failed","reason":"banned","user_id":"u1"}`,
	events.SeatsReserved:    `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","show_id":"s1","seats":2,"amount_cents":5000}`,
	events.SeatsRejected:    `{"command_id":"c1","outcome":"failed","reason":"sold out","booking_ref":"BK-A","show_id":"s1","seats":2}`,
	events.SeatsReleased:    `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","show_id":"s1","seats":2}`,
	events.BookingConfirmed: `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","show_id":"s1","seats":2}`,
	events.PaymentCharged:   `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","charge_id":"ch1","amount_cents":5000}`,
	events.PaymentDeclined:  `{"command_id":"c1","outcome":"failed","reason":"card","booking_ref":"BK-A"}`,
	events.PaymentRefunded:  `{"command_id":"c1","outcome":"retryable","booking_ref":"BK-A","charge_id":"ch1"}`,
	events.NotificationSent: `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","user_id":"u1","step":"SendNotification","message":"hi"}`,
}

// allTypes is every type constant of the package, registered or not.
var allTypes = []events.Type{
	events.StartSaga, events.StepReply, events.ResumeSaga, events.SagaResumed, events.SagaStuck,
	events.SagaStarted, events.StepStarted, events.StepSucceeded, events.StepFailed, events.StepTimedOut,
	events.CompensationStarted, events.StepCompensated, events.CompensationFailed,
	events.SagaCompleted, events.SagaCompensated, events.SagaFailed,
	events.VerifyUser, events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking,
	events.ChargePayment, events.RefundPayment, events.SendNotification,
	events.UserVerified, events.UserRejected, events.SeatsReserved, events.SeatsRejected, events.SeatsReleased,
	events.BookingConfirmed, events.PaymentCharged, events.PaymentDeclined, events.PaymentRefunded, events.NotificationSent,
	events.AddShow, events.ShowAdded,
	events.RegisterUser, events.RemoveUser, events.BlockUser, events.UnblockUser,
	events.UserRegistered, events.UserRemoved, events.UserBlocked, events.UserUnblocked,
	events.DefinitionPublished,
}

func env(typ events.Type, version int, payload string) events.Envelope {
	return events.Envelope{ID: "id-1", Type: typ, Version: version, SagaID: "saga-1", OccurredAt: t0, Payload: json.RawMessage(payload)}
}

func TestRegistryCoversEveryType(t *testing.T) {
	reg := events.RegisteredTypes()
	if len(reg) != len(allTypes) {
		t.Errorf("registry has %d types, the package declares %d", len(reg), len(allTypes))
	}
	for _, typ := range allTypes {
		if !events.Known(typ) {
			t.Errorf("Known(%q) = false", typ)
		}
	}
	for _, typ := range reg {
		if _, ok := validPayloads[typ]; !ok {
			t.Errorf("no valid sample payload for registered type %q: add one to validPayloads", typ)
		}
		if v := events.CurrentVersion(typ); v < 1 {
			t.Errorf("CurrentVersion(%q) = %d", typ, v)
		}
	}
	for typ := range validPayloads {
		if !events.Known(typ) {
			t.Errorf("sample for unregistered type %q", typ)
		}
	}
}

func TestKnownAndCurrentVersionOfUnknown(t *testing.T) {
	for _, typ := range []events.Type{"", "Nope", "stepreply", "StepReply ", " StepReply"} {
		if events.Known(typ) {
			t.Errorf("Known(%q) = true", typ)
		}
		if v := events.CurrentVersion(typ); v != 1 {
			t.Errorf("CurrentVersion(%q) = %d, want 1", typ, v)
		}
	}
}

func TestCheckValidPayloads(t *testing.T) {
	for typ, p := range validPayloads {
		t.Run(string(typ), func(t *testing.T) {
			in := env(typ, events.CurrentVersion(typ), p)
			out, err := events.Check(in)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !reflect.DeepEqual(out, in) {
				t.Fatalf("Check changed a current-version envelope: %#v", out)
			}
		})
	}
}

func TestCheckUnknownType(t *testing.T) {
	for _, typ := range []events.Type{"", "Nope", "stepReply"} {
		_, err := events.Check(env(typ, 1, `{}`))
		wantMalformed(t, err, "unknown type", `"`+string(typ)+`"`)
	}
}

func TestCheckNewerVersion(t *testing.T) {
	for _, typ := range events.RegisteredTypes() {
		cur := events.CurrentVersion(typ)
		for _, v := range []int{cur + 1, cur + 100} {
			_, err := events.Check(env(typ, v, validPayloads[typ]))
			wantMalformed(t, err, string(typ), "newer", "version")
		}
	}
}

// Versions start at 1, so nothing below 1 can be upcast:
// a hand-built envelope with version 0 is malformed, not processed.
func TestCheckVersionBelowOne(t *testing.T) {
	for _, v := range []int{0, -1} {
		_, err := events.Check(env(events.StepReply, v, validPayloads[events.StepReply]))
		wantMalformed(t, err, "cannot be upcast")
	}
}

func TestCheckInvalidPayloads(t *testing.T) {
	tests := []struct {
		name    string
		typ     events.Type
		payload string
		wants   []string
	}{
		// Not a payload at all.
		{"empty", events.StepReply, ``, []string{"empty payload"}},
		{"blank", events.StepReply, " \n\t ", []string{"empty payload"}},
		{"not JSON", events.StepReply, `{"command_id":`, []string{"not valid JSON", "StepReplyV1"}},
		{"array", events.StepReply, `[]`, []string{"not valid JSON"}},
		{"string", events.SagaCompleted, `"done"`, []string{"not valid JSON", "SagaEndedV1"}},
		{"trailing garbage", events.SagaCompleted, `{} {}`, []string{"not valid JSON"}},
		{"wrong field type", events.StepStarted, `{"step":"s","attempt":"1","command_id":"c","command":"C"}`, []string{"not valid JSON", "attempt"}},
		{"bad deadline", events.StepStarted, `{"step":"s","attempt":1,"command_id":"c","command":"C","deadline":"soon"}`, []string{"not valid JSON"}},
		{"null", events.StepReply, `null`, []string{"invalid events.StepReplyV1", "command_id is required", "outcome"}},

		// StartSagaV1 and SagaStartedV1.
		{"start: all missing", events.StartSaga, `{}`, []string{"invalid events.StartSagaV1", "definition is required", "idempotency_key is required", "booking_ref is required", "data must be a JSON object"}},
		{"start: no definition", events.StartSaga, `{"idempotency_key":"k","booking_ref":"b","data":{}}`, []string{"definition is required"}},
		{"start: no idempotency key", events.StartSaga, `{"definition":"d","booking_ref":"b","data":{}}`, []string{"idempotency_key is required"}},
		{"start: no booking ref", events.StartSaga, `{"definition":"d","idempotency_key":"k","data":{}}`, []string{"booking_ref is required"}},
		{"start: no data", events.StartSaga, `{"definition":"d","idempotency_key":"k","booking_ref":"b"}`, []string{"data must be a JSON object"}},
		{"start: data null", events.StartSaga, `{"definition":"d","idempotency_key":"k","booking_ref":"b","data":null}`, []string{"data must be a JSON object"}},
		{"start: data array", events.StartSaga, `{"definition":"d","idempotency_key":"k","booking_ref":"b","data":[1]}`, []string{"data must be a JSON object"}},
		{"start: data string", events.StartSaga, `{"definition":"d","idempotency_key":"k","booking_ref":"b","data":"{}"}`, []string{"data must be a JSON object"}},
		{"start: data number", events.StartSaga, `{"definition":"d","idempotency_key":"k","booking_ref":"b","data":1}`, []string{"data must be a JSON object"}},
		{"saga started: all missing", events.SagaStarted, `{}`, []string{"invalid events.SagaStartedV1", "definition is required", "idempotency_key is required", "booking_ref is required", "data must be a JSON object"}},

		// StepStartedV1 (and CompensationStarted).
		{"step started: all missing", events.StepStarted, `{}`, []string{"invalid events.StepStartedV1", "step is required", "attempt must be at least 1, got 0", "command_id is required", "command is required"}},
		{"step started: attempt 0", events.StepStarted, `{"step":"s","attempt":0,"command_id":"c","command":"C"}`, []string{"attempt must be at least 1, got 0"}},
		{"step started: attempt -3", events.StepStarted, `{"step":"s","attempt":-3,"command_id":"c","command":"C"}`, []string{"attempt must be at least 1, got -3"}},
		{"step started: no command id", events.StepStarted, `{"step":"s","attempt":1,"command":"C"}`, []string{"command_id is required"}},
		{"step started: no command", events.StepStarted, `{"step":"s","attempt":1,"command_id":"c"}`, []string{"command is required"}},
		{"compensation started: no step", events.CompensationStarted, `{"attempt":1,"command_id":"c","command":"C"}`, []string{"step is required"}},

		// StepSucceededV1 (and StepCompensated).
		{"step succeeded: no step", events.StepSucceeded, `{"attempt":1}`, []string{"invalid events.StepSucceededV1", "step is required"}},
		{"step succeeded: attempt 0", events.StepSucceeded, `{"step":"s"}`, []string{"attempt must be at least 1, got 0"}},
		{"step succeeded: result array", events.StepSucceeded, `{"step":"s","attempt":1,"result":[]}`, []string{"result must be a JSON object"}},
		{"step succeeded: result string", events.StepSucceeded, `{"step":"s","attempt":1,"result":"x"}`, []string{"result must be a JSON object"}},
		{"step succeeded: result not object and no step", events.StepSucceeded, `{"attempt":1,"result":7}`, []string{"result must be a JSON object", "step is required"}},
		{"step compensated: attempt 0", events.StepCompensated, `{"step":"s","attempt":0}`, []string{"attempt must be at least 1"}},

		// StepFailedV1 (StepFailed, StepTimedOut, CompensationFailed).
		{"step failed: all missing", events.StepFailed, `{"reason":"x"}`, []string{"invalid events.StepFailedV1", "step is required", "attempt must be at least 1"}},
		{"step timed out: attempt 0", events.StepTimedOut, `{"step":"s"}`, []string{"attempt must be at least 1"}},
		{"compensation failed: no step", events.CompensationFailed, `{"attempt":1}`, []string{"step is required"}},

		// StepReplyV1.
		{"reply: all missing", events.StepReply, `{}`, []string{"invalid events.StepReplyV1", "command_id is required", `outcome must be succeeded, failed or retryable, got ""`}},
		{"reply: bad outcome", events.StepReply, `{"command_id":"c","outcome":"ok"}`, []string{`got "ok"`}},
		{"reply: outcome case", events.StepReply, `{"command_id":"c","outcome":"Succeeded"}`, []string{`got "Succeeded"`}},
		{"reply: no command id", events.StepReply, `{"outcome":"failed"}`, []string{"command_id is required"}},
		{"reply: data array", events.StepReply, `{"command_id":"c","outcome":"succeeded","data":[]}`, []string{"data must be a JSON object"}},
		{"reply: data number", events.StepReply, `{"command_id":"c","outcome":"succeeded","data":3}`, []string{"data must be a JSON object"}},
		{"reply: every problem", events.StepReply, `{"outcome":"x","data":"y"}`, []string{"command_id is required", `got "x"`, "data must be a JSON object"}},

		// CommandV1 (every command type).
		{"command: all missing", events.ReserveSeats, `{}`, []string{"invalid events.CommandV1", "step is required", "attempt must be at least 1, got 0", "data must be a JSON object"}},
		{"command: attempt 0", events.ChargePayment, `{"step":"s","attempt":0,"data":{}}`, []string{"attempt must be at least 1, got 0"}},
		{"command: no step", events.VerifyUser, `{"attempt":1,"data":{}}`, []string{"step is required"}},
		{"command: data missing", events.ConfirmBooking, `{"step":"s","attempt":1}`, []string{"data must be a JSON object"}},
		{"command: data null", events.ReleaseSeats, `{"step":"s","attempt":1,"data":null}`, []string{"data must be a JSON object"}},
		{"command: data array", events.RefundPayment, `{"step":"s","attempt":1,"data":[]}`, []string{"data must be a JSON object"}},
		{"command: data string", events.SendNotification, `{"step":"s","attempt":1,"data":"{}"}`, []string{"data must be a JSON object"}},

		// Handled (every domain event).
		{"user verified: no handled", events.UserVerified, `{"user_id":"u"}`, []string{"invalid events.UserCheckedV1", "command_id is required", `got ""`}},
		{"user rejected: bad outcome", events.UserRejected, `{"command_id":"c","outcome":"rejected"}`, []string{`got "rejected"`}},
		{"notification sent: no command id", events.NotificationSent, `{"outcome":"succeeded","booking_ref":"b"}`, []string{"invalid events.NotificationSentV1", "command_id is required"}},

		// SeatsV1.
		{"seats: all missing", events.SeatsReserved, `{}`, []string{"invalid events.SeatsV1", "command_id is required", "outcome must be", "booking_ref is required", "show_id is required"}},
		{"seats: no booking ref", events.SeatsRejected, `{"command_id":"c","outcome":"failed","show_id":"s"}`, []string{"booking_ref is required"}},
		{"seats: no show", events.SeatsReleased, `{"command_id":"c","outcome":"succeeded","booking_ref":"b"}`, []string{"show_id is required"}},
		{"seats: bad outcome", events.BookingConfirmed, `{"command_id":"c","outcome":"done","booking_ref":"b","show_id":"s"}`, []string{`got "done"`}},

		// PaymentV1.
		{"payment: all missing", events.PaymentCharged, `{}`, []string{"invalid events.PaymentV1", "command_id is required", "outcome must be", "booking_ref is required"}},
		{"payment: no booking ref", events.PaymentDeclined, `{"command_id":"c","outcome":"failed"}`, []string{"booking_ref is required"}},
		{"payment: handled only", events.PaymentRefunded, `{"booking_ref":"b","outcome":"succeeded"}`, []string{"command_id is required"}},
		{"stuck: all missing", events.SagaStuck, `{}`, []string{"invalid events.SagaStuckV1", "reason must be slo or failed", "since is required"}},
		{"stuck: slo without its duration", events.SagaStuck, `{"reason":"slo","since":"2025-03-14T09:00:00Z"}`, []string{`slo must be a duration, got ""`}},
		{"stuck: unknown reason", events.SagaStuck, `{"reason":"bored","since":"2025-03-14T09:00:00Z"}`, []string{`got "bored"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.Check(env(tt.typ, 1, tt.payload))
			wantMalformed(t, err, tt.wants...)
		})
	}
}

// Every type rejects an empty object unless its payload has no required
// field, so no type silently accepts anything.
func TestCheckEmptyObject(t *testing.T) {
	mayBeEmpty := map[events.Type]bool{events.SagaCompleted: true, events.SagaCompensated: true, events.SagaFailed: true,
		events.SagaResumed: true, events.ResumeSaga: true}
	for _, typ := range events.RegisteredTypes() {
		_, err := events.Check(env(typ, 1, `{}`))
		if mayBeEmpty[typ] {
			if err != nil {
				t.Errorf("Check(%s, {}) = %v, want nil", typ, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Check(%s, {}) = nil, want malformed", typ)
			continue
		}
		wantMalformed(t, err, "invalid events.")
	}
}

func TestDecode(t *testing.T) {
	e, err := events.Check(env(events.StepReply, 1, validPayloads[events.StepReply]))
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode[events.StepReplyV1](e)
	want := events.StepReplyV1{CommandID: "c1", Command: events.ReserveSeats, Outcome: events.OutcomeSucceeded, Data: json.RawMessage(`{"amount_cents":5000}`)}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Decode = %#v, %v; want %#v", got, err, want)
	}
	if m := events.MustDecode[events.StepReplyV1](e); !reflect.DeepEqual(m, want) {
		t.Fatalf("MustDecode = %#v", m)
	}

	s, err := events.Decode[events.StepStartedV1](env(events.StepStarted, 1, validPayloads[events.StepStarted]))
	if err != nil || s.Step != "ReserveSeats" || s.Attempt != 1 || s.CommandID != "c1" || s.Command != events.ReserveSeats ||
		!s.Deadline.Equal(t0.Truncate(time.Second).Add(30*time.Second)) {
		t.Fatalf("Decode StepStarted = %+v, %v", s, err)
	}

	c, err := events.Decode[events.CommandV1](env(events.RefundPayment, 1, validPayloads[events.RefundPayment]))
	if err != nil || !c.Compensation || c.Attempt != 1 || string(c.Data) != `{"charge_id":"ch1"}` {
		t.Fatalf("Decode Command = %+v, %v", c, err)
	}
	var d events.BookingData
	if err := json.Unmarshal(c.Data, &d); err != nil || d.ChargeID != "ch1" {
		t.Fatalf("command data = %+v, %v", d, err)
	}

	n, err := events.Decode[events.NotificationSentV1](env(events.NotificationSent, 1, validPayloads[events.NotificationSent]))
	if err != nil || n.CommandID != "c1" || n.Step != "SendNotification" || n.Message != "hi" || n.BookingRef != "BK-A" {
		t.Fatalf("Decode NotificationSent = %+v, %v", n, err)
	}
}

// Decode validates as the type asked for, whatever the envelope's type.
func TestDecodeValidatesAsTarget(t *testing.T) {
	e := env(events.SagaCompleted, 1, `{}`)
	_, err := events.Decode[events.StepReplyV1](e)
	wantMalformed(t, err, "invalid events.StepReplyV1")
	_, err = events.Decode[events.SagaEndedV1](env(events.SagaCompleted, 1, ``))
	wantMalformed(t, err, "empty payload")
}

func TestMustDecodePanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("MustDecode of an invalid payload did not panic")
		}
		if s, _ := r.(string); !strings.Contains(s, "decode own "+string(events.StepReply)) {
			t.Fatalf("panic %v does not name the type", r)
		}
	}()
	events.MustDecode[events.StepReplyV1](env(events.StepReply, 1, `{}`))
}

// New then Check then Decode gives back the payload for every type: the
// writers and readers of the product agree on the field names.
func TestNewCheckDecodeRoundTrip(t *testing.T) {
	start := events.StartSagaV1{Definition: "book-ticket", IdempotencyKey: "k", BookingRef: "BK-1", Data: json.RawMessage(`{"seats":1}`)}
	roundTrip(t, events.StartSaga, start)
	roundTrip(t, events.SagaStarted, events.SagaStartedV1{Definition: start.Definition, DefinitionVersion: "0123456789ab",
		IdempotencyKey: start.IdempotencyKey, BookingRef: start.BookingRef, Data: start.Data})
	roundTrip(t, events.StepStarted, events.StepStartedV1{StepV1: events.StepV1{Step: "s", Attempt: 2}, CommandID: "c", Command: events.ReserveSeats, Deadline: t0})
	roundTrip(t, events.StepSucceeded, events.StepSucceededV1{StepV1: events.StepV1{Step: "s", Attempt: 1}, Result: json.RawMessage(`{"a":1}`)})
	roundTrip(t, events.StepCompensated, events.StepSucceededV1{StepV1: events.StepV1{Step: "s", Attempt: 1}})
	roundTrip(t, events.StepFailed, events.StepFailedV1{StepV1: events.StepV1{Step: "s", Attempt: 1}, Reason: "r", RetryAt: t0})
	roundTrip(t, events.SagaFailed, events.SagaEndedV1{Reason: "r"})
	roundTrip(t, events.StepReply, sampleReply())
	roundTrip(t, events.StepReply, events.StepReplyV1{CommandID: "c", Outcome: events.OutcomeRetryable, Reason: "later"})
	roundTrip(t, events.ChargePayment, events.CommandV1{Step: "ChargePayment", Attempt: 1, Data: json.RawMessage(`{}`)})
	h := events.Handled{CommandID: "c", Outcome: events.OutcomeSucceeded, Reply: json.RawMessage(`{"x":1}`)}
	roundTrip(t, events.UserVerified, events.UserCheckedV1{Handled: h, UserID: "u"})
	roundTrip(t, events.SeatsReserved, events.SeatsV1{Handled: h, BookingRef: "b", ShowID: "s", Seats: 2, AmountCents: 10})
	roundTrip(t, events.PaymentCharged, events.PaymentV1{Handled: h, BookingRef: "b", ChargeID: "ch", AmountCents: 10})
	roundTrip(t, events.NotificationSent, events.NotificationSentV1{Handled: h, BookingRef: "b", UserID: "u", Step: "s", Message: "m"})
}

func roundTrip[T events.Validator](t *testing.T, typ events.Type, p T) {
	t.Helper()
	e := events.MustNew("id", typ, p, fullTrace(), "k", t0)
	got, err := reread(e)
	if err == nil {
		got, err = events.Check(got)
	}
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	back, err := events.Decode[T](got)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("%s: Decode = %#v, %v; want %#v", typ, back, err, p)
	}
}

// TestCheckAs checks that CheckAs accepts what Check and Decode accept,
// with the same result, and refuses a type other than the registered one.
func TestCheckAs(t *testing.T) {
	reply := events.MustNew("r1", events.StepReply, events.StepReplyV1{CommandID: "c1", Command: events.VerifyUser,
		Outcome: events.OutcomeSucceeded, Data: json.RawMessage(`{"a":1}`)}, events.Trace{SagaID: "s"}, "s", time.Unix(0, 0))
	e, p, err := events.CheckAs[events.StepReplyV1](reply)
	checked, cerr := events.Check(reply)
	want, derr := events.Decode[events.StepReplyV1](checked)
	if err != nil || cerr != nil || derr != nil || !reflect.DeepEqual(p, want) || !reflect.DeepEqual(e, checked) {
		t.Fatalf("CheckAs = %+v, %+v, %v; Check and Decode = %+v, %+v (%v, %v)", e, p, err, checked, want, cerr, derr)
	}
	if _, _, err := events.CheckAs[events.CommandV1](reply); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("a StepReply read as a command: %v", err)
	}
	bad := reply
	bad.Payload = json.RawMessage(`{"command_id":"c1","outcome":"maybe"}`)
	if _, _, err := events.CheckAs[events.StepReplyV1](bad); !errors.Is(err, events.ErrMalformed) {
		t.Errorf("an invalid reply: %v", err)
	}
	old := events.MustNew("n1", events.NotificationSent, json.RawMessage(`{}`), events.Trace{}, "k", time.Unix(0, 0))
	old.Version = 1
	old.Payload = json.RawMessage(`{"command_id":"c","outcome":"succeeded","booking_ref":"BK-1","user_id":"alice","message":"hi"}`)
	if e, p, err := events.CheckAs[events.NotificationSentV2](old); err != nil || e.Version != 2 || p.Channel != "email" {
		t.Errorf("a v1 NotificationSent is upcast: version %d, %+v, %v", e.Version, p, err)
	}
}
