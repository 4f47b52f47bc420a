package events_test

import (
	"errors"
	"testing"

	"github.com/sagaflow/saga/events"
)

// BUG (fails today): FromHeaders accepts an occurred_at whose instant, in
// UTC, lies outside the years 0000-9999. RFC 3339 cannot write such a
// time, so PutHeaders of the accepted envelope emits an occurred_at header
// (e.g. "-0001-12-31T23:00:00Z" or "10000-01-01T00:59:59Z") that
// FromHeaders itself rejects: a record that passed Check turns into poison
// as soon as its time is written again. The orchestrator does that: after a
// restart, Machine.Command re-sends an in-flight command stamped with the
// StepStarted event's OccurredAt (New converts it to UTC), and the
// participant then dead-letters the command as malformed.
//
// Either fix satisfies this test: reject the header as malformed, or
// accept only times whose UTC form PutHeaders can write back.
func TestFromHeadersOccurredAtOutOfRange(t *testing.T) {
	for _, at := range []string{
		"0000-01-01T00:00:00+01:00", // UTC year -1
		"9999-12-31T23:59:59-01:00", // UTC year 10000
	} {
		h := validHeaders()
		h[events.HeaderOccurredAt] = at
		e, err := events.FromHeaders("", h, []byte(`{"command_id":"c","outcome":"succeeded"}`))
		if err != nil {
			if !errors.Is(err, events.ErrMalformed) {
				t.Errorf("%s: %v is not ErrMalformed", at, err)
			}
			continue
		}
		if _, err := reread(e); err != nil {
			t.Errorf("occurred_at %q is accepted, but the envelope cannot be written back: PutHeaders writes %q and reading it fails: %v",
				at, headersOf(e)[events.HeaderOccurredAt], err)
		}
	}
}

// Years 0000 and 9999 in UTC are fine and must stay accepted.
func TestFromHeadersOccurredAtRangeEdges(t *testing.T) {
	for _, at := range []string{"0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T01:00:00+01:00"} {
		h := validHeaders()
		h[events.HeaderOccurredAt] = at
		e, err := events.FromHeaders("", h, nil)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		back, err := reread(e)
		if err != nil || !back.OccurredAt.Equal(e.OccurredAt) {
			t.Fatalf("%s: round trip = %v, %v", at, back.OccurredAt, err)
		}
	}
}
