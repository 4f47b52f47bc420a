package events_test

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func fullTrace() events.Trace {
	return events.Trace{SagaID: "saga-1", CorrelationID: "BK-ABCDEFGH", CausationID: "cause-1", Actor: "alice"}
}

func sampleReply() events.StepReplyV1 {
	return events.StepReplyV1{CommandID: "cmd-1", Command: events.ReserveSeats, Outcome: events.OutcomeSucceeded,
		Data: json.RawMessage(`{"seats":2}`)}
}

func metadataKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestNewFillsEnvelope(t *testing.T) {
	at := time.Date(2025, 3, 14, 16, 9, 26, 535897932, time.FixedZone("CET", 3600))
	e, err := events.New("id-1", events.StepReply, sampleReply(), fullTrace(), "key-1", at)
	if err != nil {
		t.Fatal(err)
	}
	want := events.Envelope{ID: "id-1", Type: events.StepReply, Version: 1, SagaID: "saga-1", CorrelationID: "BK-ABCDEFGH",
		CausationID: "cause-1", Actor: "alice", OccurredAt: t0, Key: "key-1",
		Payload: json.RawMessage(`{"command_id":"cmd-1","command":"ReserveSeats","outcome":"succeeded","data":{"seats":2}}`)}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("New =\n%#v\nwant\n%#v", e, want)
	}
	if e.OccurredAt.Location() != time.UTC {
		t.Errorf("OccurredAt location = %v, want UTC", e.OccurredAt.Location())
	}
	if e.Version != events.CurrentVersion(events.StepReply) {
		t.Errorf("Version = %d, want CurrentVersion = %d", e.Version, events.CurrentVersion(events.StepReply))
	}
}

func TestNewUnknownTypeIsVersion1(t *testing.T) {
	e, err := events.New("id", "NoSuchType", struct{}{}, events.Trace{}, "", t0)
	if err != nil || e.Version != 1 {
		t.Fatalf("New(unknown) = version %d, %v; want version 1, nil", e.Version, err)
	}
}

func TestNewEncodeError(t *testing.T) {
	for name, payload := range map[string]any{
		"channel": make(chan int),
		"func":    func() {},
		"NaN":     math.NaN(),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := events.New("id", events.StepReply, payload, events.Trace{}, "", t0)
			if err == nil || !strings.Contains(err.Error(), "encode "+string(events.StepReply)) {
				t.Fatalf("New(%s) err = %v, want an encode error naming the type", name, err)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("MustNew(%s) did not panic", name)
				}
			}()
			events.MustNew("id", events.StepReply, payload, events.Trace{}, "", t0)
		})
	}
}

func TestMustNewEqualsNew(t *testing.T) {
	a, err := events.New("id", events.StepReply, sampleReply(), fullTrace(), "k", t0)
	if err != nil {
		t.Fatal(err)
	}
	if b := events.MustNew("id", events.StepReply, sampleReply(), fullTrace(), "k", t0); !reflect.DeepEqual(a, b) {
		t.Fatalf("MustNew = %#v, New = %#v", b, a)
	}
}

func TestTraceOf(t *testing.T) {
	e := events.MustNew("parent", events.StepReply, sampleReply(), fullTrace(), "k", t0)
	got := events.TraceOf(e)
	want := events.Trace{SagaID: "saga-1", CorrelationID: "BK-ABCDEFGH", CausationID: "parent", Actor: "alice"}
	if got != want {
		t.Fatalf("TraceOf = %+v, want %+v", got, want)
	}
	child := events.MustNew("child", events.StepReply, sampleReply(), got, "k", t0)
	if child.CausationID != e.ID || child.SagaID != e.SagaID || child.CorrelationID != e.CorrelationID || child.Actor != e.Actor {
		t.Fatalf("child %+v does not inherit the trace of %+v", child, e)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("NST", -(3*3600 + 1800))}
	nanos := []int{0, 1, 100, 123456789, 999999999, 500000000}
	for _, loc := range zones {
		for _, ns := range nanos {
			at := time.Date(2025, 12, 31, 23, 59, 59, ns, loc)
			e := events.MustNew("id-1", events.StepReply, sampleReply(), fullTrace(), "key-1", at)
			got, err := reread(e)
			if err != nil {
				t.Fatalf("%v: FromHeaders(PutHeaders): %v", at, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Fatalf("%v: round trip =\n%#v\nwant\n%#v", at, got, e)
			}
			if !got.OccurredAt.Equal(at) || got.OccurredAt.Nanosecond() != ns || got.OccurredAt.Location() != time.UTC {
				t.Fatalf("OccurredAt = %v (%v), want %v in UTC to the nanosecond", got.OccurredAt, got.OccurredAt.Location(), at)
			}
			if got.OccurredAt != e.OccurredAt {
				t.Fatalf("OccurredAt = %#v, not == %#v", got.OccurredAt, e.OccurredAt)
			}
			if checked, err := events.Check(got); err != nil || !reflect.DeepEqual(checked, e) {
				t.Fatalf("Check(round trip) = %#v, %v", checked, err)
			}
		}
	}
}

// Every field survives the trip separately, so that a swapped pair of
// headers cannot hide behind equal values.
func TestEnvelopeRoundTripEachField(t *testing.T) {
	base := events.Envelope{ID: "i", Type: "T", Version: 7, OccurredAt: t0, Payload: json.RawMessage(`{}`)}
	set := map[string]func(*events.Envelope){
		"saga id":     func(e *events.Envelope) { e.SagaID = "s" },
		"correlation": func(e *events.Envelope) { e.CorrelationID = "c" },
		"causation":   func(e *events.Envelope) { e.CausationID = "z" },
		"actor":       func(e *events.Envelope) { e.Actor = "a" },
		"key":         func(e *events.Envelope) { e.Key = "k" },
		"unicode":     func(e *events.Envelope) { e.Actor = "zoë ✓ \"quoted\"" },
	}
	for name, f := range set {
		t.Run(name, func(t *testing.T) {
			e := base
			f(&e)
			got, err := reread(e)
			if err != nil || !reflect.DeepEqual(got, e) {
				t.Fatalf("round trip = %#v, %v; want %#v", got, err, e)
			}
		})
	}
}

func TestPutHeaders(t *testing.T) {
	e := events.MustNew("id-1", events.StepReply, sampleReply(), fullTrace(), "key-1", t0)
	h := headersOf(e)
	want := map[string]string{
		events.HeaderType:          string(events.StepReply),
		events.HeaderVersion:       "1",
		events.HeaderOccurredAt:    "2025-03-14T15:09:26.535897932Z",
		events.HeaderSagaID:        "saga-1",
		events.HeaderCorrelationID: "BK-ABCDEFGH",
		events.HeaderCausationID:   "cause-1",
		events.HeaderActor:         "alice",
		events.MetaKey:             "key-1",
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("headers = %v, want %v", h, want)
	}
}

func TestPutHeadersOmitsEmptyOptionalFields(t *testing.T) {
	e := events.MustNew("id-1", events.StepReply, sampleReply(), events.Trace{}, "", t0)
	h := headersOf(e)
	if got, want := metadataKeys(h), []string{events.HeaderOccurredAt, events.HeaderType, events.HeaderVersion}; !reflect.DeepEqual(got, want) {
		t.Fatalf("metadata keys = %v, want only %v", got, want)
	}
	for _, k := range []string{events.HeaderSagaID, events.HeaderCorrelationID, events.HeaderCausationID, events.HeaderActor, events.MetaKey, events.HeaderID} {
		if _, ok := h[k]; ok {
			t.Errorf("empty %q is set as a header", k)
		}
	}
	got, err := events.FromHeaders(e.ID, h, e.Payload)
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip = %#v, %v; want %#v", got, err, e)
	}
}

// A zero OccurredAt is written (as year 1) and read back as the zero time.
func TestZeroOccurredAtRoundTrip(t *testing.T) {
	e := events.Envelope{ID: "i", Type: events.StepReply, Version: 1, Payload: json.RawMessage(`{}`)}
	got, err := reread(e)
	if err != nil || !got.OccurredAt.IsZero() || !reflect.DeepEqual(got, e) {
		t.Fatalf("round trip = %#v, %v; want %#v", got, err, e)
	}
}

func validHeaders() map[string]string {
	return map[string]string{
		events.HeaderID:            "hdr-id",
		events.HeaderType:          string(events.StepReply),
		events.HeaderVersion:       "1",
		events.HeaderOccurredAt:    "2025-03-14T15:09:26.535897932Z",
		events.HeaderSagaID:        "saga-1",
		events.HeaderCorrelationID: "BK-ABCDEFGH",
		events.HeaderCausationID:   "cause-1",
		events.HeaderActor:         "alice",
		events.MetaKey:             "key-1",
	}
}

func TestFromHeaders(t *testing.T) {
	payload := []byte(`{"command_id":"c","outcome":"failed"}`)
	e, err := events.FromHeaders("", validHeaders(), payload)
	if err != nil {
		t.Fatal(err)
	}
	want := events.Envelope{ID: "hdr-id", Type: events.StepReply, Version: 1, SagaID: "saga-1", CorrelationID: "BK-ABCDEFGH",
		CausationID: "cause-1", Actor: "alice", OccurredAt: t0, Key: "key-1", Payload: payload}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("FromHeaders =\n%#v\nwant\n%#v", e, want)
	}
}

func TestFromHeadersIDFallback(t *testing.T) {
	h := validHeaders()
	if e, err := events.FromHeaders("", h, nil); err != nil || e.ID != "hdr-id" {
		t.Errorf("FromHeaders(\"\", id header) = %q, %v; want the header's id", e.ID, err)
	}
	if e, err := events.FromHeaders("arg-id", h, nil); err != nil || e.ID != "arg-id" {
		t.Errorf("FromHeaders(\"arg-id\", id header) = %q, %v; want the argument to win", e.ID, err)
	}
	delete(h, events.HeaderID)
	if e, err := events.FromHeaders("arg-id", h, nil); err != nil || e.ID != "arg-id" {
		t.Errorf("FromHeaders(\"arg-id\", no id header) = %q, %v; want arg-id", e.ID, err)
	}
}

func TestFromHeadersNilHeaders(t *testing.T) {
	_, err := events.FromHeaders("id", nil, nil)
	wantMalformed(t, err, `"type"`)
	_, err = events.FromHeaders("", nil, nil)
	wantMalformed(t, err, `"id"`)
}

func TestFromHeadersErrors(t *testing.T) {
	tests := []struct {
		name   string
		id     string
		edit   func(map[string]string)
		header string
	}{
		{"missing id", "", func(h map[string]string) { delete(h, events.HeaderID) }, "id"},
		{"empty id", "", func(h map[string]string) { h[events.HeaderID] = "" }, "id"},
		{"missing type", "x", func(h map[string]string) { delete(h, events.HeaderType) }, "type"},
		{"empty type", "x", func(h map[string]string) { h[events.HeaderType] = "" }, "type"},
		{"missing version", "x", func(h map[string]string) { delete(h, events.HeaderVersion) }, "version"},
		{"empty version", "x", func(h map[string]string) { h[events.HeaderVersion] = "" }, "version"},
		{"version 0", "x", func(h map[string]string) { h[events.HeaderVersion] = "0" }, "version"},
		{"version -1", "x", func(h map[string]string) { h[events.HeaderVersion] = "-1" }, "version"},
		{"version x", "x", func(h map[string]string) { h[events.HeaderVersion] = "x" }, "version"},
		{"version 1.0", "x", func(h map[string]string) { h[events.HeaderVersion] = "1.0" }, "version"},
		{"version with space", "x", func(h map[string]string) { h[events.HeaderVersion] = " 1" }, "version"},
		{"version overflow", "x", func(h map[string]string) { h[events.HeaderVersion] = "99999999999999999999" }, "version"},
		{"occurred_at garbage", "x", func(h map[string]string) { h[events.HeaderOccurredAt] = "yesterday" }, "occurred_at"},
		{"occurred_at without zone", "x", func(h map[string]string) { h[events.HeaderOccurredAt] = "2025-03-14T15:09:26" }, "occurred_at"},
		{"occurred_at date only", "x", func(h map[string]string) { h[events.HeaderOccurredAt] = "2025-03-14" }, "occurred_at"},
		{"occurred_at unix seconds", "x", func(h map[string]string) { h[events.HeaderOccurredAt] = "1741964966" }, "occurred_at"},
		{"occurred_at month 13", "x", func(h map[string]string) { h[events.HeaderOccurredAt] = "2025-13-01T00:00:00Z" }, "occurred_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validHeaders()
			tt.edit(h)
			_, err := events.FromHeaders(tt.id, h, []byte(`{}`))
			wantMalformed(t, err, `"`+tt.header+`"`)
			var me *events.MalformedError
			errors.As(err, &me)
			if !strings.Contains(me.Reason, tt.header) {
				t.Errorf("reason %q does not name header %q", me.Reason, tt.header)
			}
		})
	}
}

// The reasons quote the offending value, so the dead-letter entry says
// what was wrong.
func TestFromHeadersReasonQuotesValue(t *testing.T) {
	h := validHeaders()
	h[events.HeaderVersion] = "v2"
	_, err := events.FromHeaders("x", h, nil)
	wantMalformed(t, err, `"v2"`)
	h = validHeaders()
	h[events.HeaderOccurredAt] = "noon"
	_, err = events.FromHeaders("x", h, nil)
	wantMalformed(t, err, `"noon"`)
}

func TestFromHeadersAccepts(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(map[string]string)
		version int
		at      time.Time
	}{
		{"no occurred_at", func(h map[string]string) { delete(h, events.HeaderOccurredAt) }, 1, time.Time{}},
		{"empty occurred_at", func(h map[string]string) { h[events.HeaderOccurredAt] = "" }, 1, time.Time{}},
		{"occurred_at without fraction", func(h map[string]string) { h[events.HeaderOccurredAt] = "2025-03-14T15:09:26Z" }, 1, t0.Truncate(time.Second)},
		{"occurred_at with offset", func(h map[string]string) { h[events.HeaderOccurredAt] = "2025-03-14T16:09:26.535897932+01:00" }, 1, t0},
		{"version 2 (FromHeaders does not know the registry)", func(h map[string]string) { h[events.HeaderVersion] = "2" }, 2, t0},
		{"large version", func(h map[string]string) { h[events.HeaderVersion] = "1000000" }, 1000000, t0},
		{"no optional headers", func(h map[string]string) {
			for _, k := range []string{events.HeaderSagaID, events.HeaderCorrelationID, events.HeaderCausationID, events.HeaderActor, events.MetaKey} {
				delete(h, k)
			}
		}, 1, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := validHeaders()
			tt.edit(h)
			e, err := events.FromHeaders("", h, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e.Version != tt.version || !e.OccurredAt.Equal(tt.at) {
				t.Fatalf("version %d at %v, want %d at %v", e.Version, e.OccurredAt, tt.version, tt.at)
			}
		})
	}
}

// FromHeaders neither keeps nor changes the caller's map.
func TestFromHeadersDoesNotTouchHeaders(t *testing.T) {
	h := validHeaders()
	before := validHeaders()
	if _, err := events.FromHeaders("other", h, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h, before) {
		t.Fatalf("headers changed: %v", h)
	}
}
