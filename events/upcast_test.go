package events_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sagaflow/saga/events"
)

// NotificationSent v2 is v1 plus the channel the message went out on;
// every v1 record was an e-mail.
func TestNotificationSentIsVersion2(t *testing.T) {
	if v := events.CurrentVersion(events.NotificationSent); v != 2 {
		t.Fatalf("CurrentVersion(NotificationSent) = %d, want 2", v)
	}
	p := events.NotificationSentV2{Handled: events.Handled{CommandID: "c1", Outcome: events.OutcomeSucceeded},
		BookingRef: "BK-A", UserID: "u1", Message: "hi"}
	e, err := events.New("id", events.NotificationSent, p, events.Trace{SagaID: "s"}, "u1", t0)
	if err != nil || e.Version != 2 {
		t.Fatalf("New(NotificationSent) = version %d, %v; want 2", e.Version, err)
	}
	if _, err := events.Check(e); err != nil {
		t.Fatalf("Check(new NotificationSent): %v", err)
	}
}

func TestUpcastNotificationSentV1(t *testing.T) {
	fields := func(t *testing.T, raw json.RawMessage) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("payload %s: %v", raw, err)
		}
		return m
	}
	v1 := validPayloads[events.NotificationSent]
	for _, c := range []struct {
		name, payload, channel string
	}{
		{"as v1 wrote it", v1, "email"},
		{"channel null", `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","user_id":"u1","message":"hi","channel":null}`, "email"},
		{"channel empty", `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","user_id":"u1","message":"hi","channel":""}`, "email"},
		// A producer that already named its channel keeps it.
		{"channel given", `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","user_id":"u1","message":"hi","channel":"sms"}`, "sms"},
		{"bounced", `{"command_id":"c1","outcome":"retryable","reason":"message bounced","booking_ref":"BK-A","user_id":"u1","message":"hi"}`, "email"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := env(events.NotificationSent, 1, c.payload)
			out, err := events.Check(in)
			if err != nil {
				t.Fatalf("Check(v1): %v", err)
			}
			if out.Version != 2 || out.ID != in.ID || out.Type != in.Type || out.SagaID != in.SagaID || !out.OccurredAt.Equal(in.OccurredAt) {
				t.Errorf("Check(v1) = %+v, want the same envelope at version 2", out)
			}
			if string(in.Payload) != c.payload || in.Version != 1 {
				t.Errorf("Check changed the caller's envelope: %+v", in)
			}
			got, want := fields(t, out.Payload), fields(t, json.RawMessage(c.payload))
			want["channel"] = c.channel
			if !reflect.DeepEqual(got, want) {
				t.Errorf("upcast payload = %v, want %v", got, want)
			}
			p, err := events.Decode[events.NotificationSentV2](out)
			if err != nil || p.CommandID != "c1" || p.BookingRef != "BK-A" || p.UserID != "u1" {
				t.Errorf("Decode = %+v, %v", p, err)
			}
			// Checking again changes nothing: the upcaster ran once.
			if again, err := events.Check(out); err != nil || !reflect.DeepEqual(again, out) {
				t.Errorf("Check(checked) = %+v, %v", again, err)
			}
		})
	}
}

func TestUpcastNotificationSentV1Malformed(t *testing.T) {
	for _, c := range []struct {
		name, payload string
		wants         []string
	}{
		{"not JSON", `{"command_id":`, []string{"upcast NotificationSent from version 1"}},
		{"array", `[]`, []string{"upcast NotificationSent from version 1"}},
		{"null", `null`, []string{"upcast NotificationSent from version 1", "JSON object"}},
		{"channel a number", `{"command_id":"c1","outcome":"succeeded","booking_ref":"BK-A","user_id":"u1","channel":7}`, []string{"channel must be a string"}},
		// The upcast payload is validated as version 2.
		{"no booking ref", `{"command_id":"c1","outcome":"succeeded","user_id":"u1","message":"hi"}`, []string{"booking_ref is required"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := events.Check(env(events.NotificationSent, 1, c.payload))
			wantMalformed(t, err, c.wants...)
		})
	}
	// Version 3 is newer than this build reads.
	_, err := events.Check(env(events.NotificationSent, 3, validPayloads[events.NotificationSent]))
	wantMalformed(t, err, "NotificationSent version 3 is newer than this build reads (2)")
}

// Every other type is still at version 1: their v1 records are read as
// they were written.
func TestOtherTypesReadV1Unchanged(t *testing.T) {
	for _, typ := range events.RegisteredTypes() {
		if typ == events.NotificationSent {
			continue
		}
		if v := events.CurrentVersion(typ); v != 1 {
			t.Errorf("CurrentVersion(%s) = %d: add its upcaster test and its v1 form to the fixture generator", typ, v)
		}
	}
}
