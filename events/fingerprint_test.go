package events_test

import (
	"encoding/json"
	"testing"

	"github.com/sagaflow/saga/events"
)

func TestRequestFingerprint(t *testing.T) {
	t.Parallel()
	base := events.RequestFingerprint("book-ticket", json.RawMessage(`{"user_id":"alice","show_id":"show-1","seats":2}`))
	for _, tt := range []struct {
		name string
		def  string
		data string
		same bool
	}{
		{"same request", "book-ticket", `{"user_id":"alice","show_id":"show-1","seats":2}`, true},
		{"other field order and spacing", "book-ticket", "{ \"seats\": 2,\n \"show_id\":\"show-1\", \"user_id\":\"alice\"}", true},
		{"other user", "book-ticket", `{"user_id":"bob","show_id":"show-1","seats":2}`, false},
		{"other seats", "book-ticket", `{"user_id":"alice","show_id":"show-1","seats":3}`, false},
		{"seats as a string", "book-ticket", `{"user_id":"alice","show_id":"show-1","seats":"2"}`, false},
		{"a field more", "book-ticket", `{"user_id":"alice","show_id":"show-1","seats":2,"payment_token":"tok_ok"}`, false},
		{"other definition", "cancel-booking", `{"user_id":"alice","show_id":"show-1","seats":2}`, false},
	} {
		got := events.RequestFingerprint(tt.def, json.RawMessage(tt.data)) == base
		if got != tt.same {
			t.Errorf("%s: same = %v, want %v", tt.name, got, tt.same)
		}
	}
}

func TestStartedFingerprint(t *testing.T) {
	t.Parallel()
	req := json.RawMessage(`{"user_id":"alice","show_id":"show-1","seats":2}`)
	merged := json.RawMessage(`{"seats":2,"user_id":"alice","show_id":"show-1","amount_cents":5000,"charge_id":"ch-1"}`)
	if events.StartedFingerprint("book-ticket", req, merged) != events.RequestFingerprint("book-ticket", req) {
		t.Error("a saga's results changed its request's fingerprint")
	}
	other := json.RawMessage(`{"user_id":"bob","show_id":"show-1","seats":2}`)
	if events.StartedFingerprint("book-ticket", other, merged) == events.RequestFingerprint("book-ticket", other) {
		t.Error("another user's request matches alice's saga")
	}
	more := json.RawMessage(`{"user_id":"alice","show_id":"show-1","seats":2,"note":"x"}`)
	if events.StartedFingerprint("book-ticket", more, merged) == events.RequestFingerprint("book-ticket", more) {
		t.Error("a request with a field the saga lacks matches it")
	}
}

func FuzzRequestFingerprint(f *testing.F) {
	f.Add(`{"a":1,"b":[1,2]}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, data string) {
		a := events.RequestFingerprint("d", json.RawMessage(data))
		if len(a) != 64 || a != events.RequestFingerprint("d", json.RawMessage(data)) {
			t.Fatalf("fingerprint %q of %q is not a stable SHA-256", a, data)
		}
	})
}
