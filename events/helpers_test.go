package events_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

// headersOf is what the Kafka plumbing writes for e beside its id.
func headersOf(e events.Envelope) map[string]string {
	h := map[string]string{}
	events.PutHeaders(h, e)
	return h
}

// reread writes e's headers and reads them back, as a record goes to Kafka
// and comes back.
func reread(e events.Envelope) (events.Envelope, error) {
	return events.FromHeaders(e.ID, headersOf(e), e.Payload)
}

// wantMalformed fails unless err is a MalformedError (reachable with
// errors.Is and errors.As) whose text mentions every one of wants.
func wantMalformed(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want a malformed error mentioning %q", wants)
	}
	if !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("errors.Is(%v, ErrMalformed) = false", err)
	}
	var me *events.MalformedError
	if !errors.As(err, &me) {
		t.Fatalf("errors.As(%v, *MalformedError) = false", err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// wantMentions fails unless err is non-nil and its text mentions every one
// of wants (for the plain Validate errors, which are not MalformedErrors).
func wantMentions(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error mentioning %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}
