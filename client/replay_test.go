package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
)

// fixturePath is the committed log of version 1 records of a few complete
// sagas (see events/upcast_fixture_test.go).
const fixturePath = "../events/testdata/v1_log.jsonl"

type fixtureRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Payload   json.RawMessage   `json:"payload"`
}

func (r fixtureRecord) at(t *testing.T) time.Time {
	at, err := time.Parse(time.RFC3339Nano, r.Headers[events.HeaderOccurredAt])
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func (r fixtureRecord) pos() string { return fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset) }

func readFixture(t *testing.T) []fixtureRecord {
	t.Helper()
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []fixtureRecord
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r fixtureRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// publishRecord writes one record as the services do; the key decides the
// partition, so a fresh topic gets the fixture's partitions and offsets.
func publishRecord(t *testing.T, cfg bus.Config, pub message.Publisher, r fixtureRecord) {
	t.Helper()
	msg := message.NewMessage(r.Headers[events.HeaderID], []byte(r.Payload))
	for k, v := range r.Headers {
		if k != events.HeaderID {
			msg.Metadata.Set(k, v)
		}
	}
	msg.Metadata.Set(bus.MetaKey, r.Key)
	if err := pub.Publish(cfg.Topic(r.Topic), msg); err != nil {
		t.Fatal(err)
	}
}

// loadFixture writes the whole fixture to fresh topics.
func loadFixture(t *testing.T, cfg bus.Config, pub message.Publisher) []fixtureRecord {
	t.Helper()
	recs := readFixture(t)
	for _, r := range recs {
		publishRecord(t, cfg, pub, r)
	}
	return recs
}

func positions(entries []client.LogEntry) []string {
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s/%d@%d", e.Topic, e.Partition, e.Offset))
	}
	sort.Strings(out)
	return out
}

func TestReplayFilters(t *testing.T) {
	cfg, c, pub := newTestClient(t)
	ctx := context.Background()
	recs := loadFixture(t, cfg, pub)

	all, err := c.Replay(ctx, client.ReplayFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(recs) {
		t.Fatalf("replay of everything: %d records, want the fixture's %d", len(all), len(recs))
	}
	// Where the fixture says: the partitions and offsets are the broker's.
	byPos := map[string]client.LogEntry{}
	for _, e := range all {
		byPos[fmt.Sprintf("%s/%d@%d", e.Topic, e.Partition, e.Offset)] = e
	}
	for _, r := range recs {
		e, ok := byPos[r.pos()]
		if !ok || e.ID != r.Headers[events.HeaderID] || string(e.Type) != r.Headers[events.HeaderType] || e.Key != r.Key {
			t.Fatalf("%s: replayed as %+v, want %s %s", r.pos(), e, r.Headers[events.HeaderID], r.Headers[events.HeaderType])
		}
	}
	for i, e := range all {
		if i > 0 && e.OccurredAt.Before(all[i-1].OccurredAt) {
			t.Errorf("entry %d (%s) occurred before the one printed before it", i, e.OccurredAt)
		}
		// The version 1 notifications are read as today's version 2.
		if e.Type == events.NotificationSent {
			var p struct{ Channel string }
			if e.Version != 2 || json.Unmarshal(e.Payload, &p) != nil || p.Channel != events.NotificationChannelEmail {
				t.Errorf("NotificationSent replayed as version %d %s, want 2 with channel email", e.Version, e.Payload)
			}
		} else if e.Version != 1 {
			t.Errorf("%s replayed as version %d", e.Type, e.Version)
		}
	}

	sagaID := events.SagaIDFor("v1-fixture-declined")
	cancelled := events.BookingRefFor(events.SagaIDFor("v1-fixture-cancelled"))
	mid := recs[len(recs)/2].at(t)
	late := recs[len(recs)*3/4].at(t)
	tests := []struct {
		name string
		f    client.ReplayFilter
		keep func(r fixtureRecord) bool
	}{
		{"saga", client.ReplayFilter{SagaID: sagaID},
			func(r fixtureRecord) bool { return r.Headers[events.HeaderSagaID] == sagaID }},
		{"booking ref: the booking and its cancellation", client.ReplayFilter{BookingRef: cancelled},
			func(r fixtureRecord) bool { return r.Headers[events.HeaderCorrelationID] == cancelled }},
		{"one type", client.ReplayFilter{Types: []events.Type{events.StepFailed}},
			func(r fixtureRecord) bool { return events.Type(r.Headers[events.HeaderType]) == events.StepFailed }},
		{"two types", client.ReplayFilter{Types: []events.Type{events.NotificationSent, events.SagaCompensated}},
			func(r fixtureRecord) bool {
				return events.Type(r.Headers[events.HeaderType]) == events.NotificationSent || events.Type(r.Headers[events.HeaderType]) == events.SagaCompensated
			}},
		{"since", client.ReplayFilter{Since: mid},
			func(r fixtureRecord) bool { return !r.at(t).Before(mid) }},
		{"until", client.ReplayFilter{Until: mid},
			func(r fixtureRecord) bool { return r.at(t).Before(mid) }},
		{"since and until", client.ReplayFilter{Since: mid, Until: late},
			func(r fixtureRecord) bool { return !r.at(t).Before(mid) && r.at(t).Before(late) }},
		{"topics", client.ReplayFilter{Topics: []string{"payment.events", "booking.events"}},
			func(r fixtureRecord) bool { return r.Topic == "payment.events" || r.Topic == "booking.events" }},
		{"offsets of every topic", client.ReplayFilter{FromOffsets: map[int32]int64{0: 3, 2: 1}},
			func(r fixtureRecord) bool {
				return (r.Partition != 0 || r.Offset >= 3) && (r.Partition != 2 || r.Offset >= 1)
			}},
		{"offsets of one topic win", client.ReplayFilter{FromOffsets: map[int32]int64{0: 3},
			TopicOffsets: map[string]map[int32]int64{"saga.events": {0: 10, 1: 4}}},
			func(r fixtureRecord) bool {
				if r.Topic == "saga.events" {
					return (r.Partition != 0 || r.Offset >= 10) && (r.Partition != 1 || r.Offset >= 4)
				}
				return r.Partition != 0 || r.Offset >= 3
			}},
		{"offset past the end", client.ReplayFilter{Topics: []string{"saga.events"}, FromOffsets: map[int32]int64{0: 1 << 40, 1: 1 << 40, 2: 1 << 40, 3: 1 << 40}},
			func(fixtureRecord) bool { return false }},
		{"everything at once", client.ReplayFilter{BookingRef: cancelled, Types: []events.Type{events.StepSucceeded, events.PaymentRefunded},
			Topics: []string{"saga.events", "payment.events"}, Since: recs[0].at(t)},
			func(r fixtureRecord) bool {
				typ := r.Headers[events.HeaderType]
				return r.Headers[events.HeaderCorrelationID] == cancelled && (typ == string(events.StepSucceeded) || typ == string(events.PaymentRefunded)) &&
					(r.Topic == "saga.events" || r.Topic == "payment.events")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Replay(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range recs {
				if tt.keep(r) {
					want = append(want, r.pos())
				}
			}
			sort.Strings(want)
			if g := positions(got); !reflect.DeepEqual(g, want) && !(len(g) == 0 && len(want) == 0) {
				t.Errorf("replay kept %d records, want %d\n got %v\nwant %v", len(g), len(want), g, want)
			}
			if tt.name != "offset past the end" && len(want) == 0 {
				t.Errorf("the case selects nothing of the fixture")
			}
			for i := 1; i < len(got); i++ {
				if got[i].OccurredAt.Before(got[i-1].OccurredAt) {
					t.Errorf("not in time order at %d", i)
				}
			}
		})
	}

	t.Run("a partition the topic does not have", func(t *testing.T) {
		_, err := c.Replay(ctx, client.ReplayFilter{TopicOffsets: map[string]map[int32]int64{"saga.events": {9: 0}}})
		if !errors.Is(err, client.ErrInvalid) || !strings.Contains(err.Error(), "saga.events has 4 partitions (0 to 3): there is no partition 9") {
			t.Errorf("err = %v", err)
		}
		_, err = c.Replay(ctx, client.ReplayFilter{Topics: []string{"saga.events", "payment.events"}, FromOffsets: map[int32]int64{9: 0, 4: 1, 1: 0}})
		if !errors.Is(err, client.ErrInvalid) || err.Error() != "saga.events, payment.events have 4 partitions (0 to 3): there are no partitions 4, 9" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("Replay does not follow", func(t *testing.T) {
		if _, err := c.Replay(ctx, client.ReplayFilter{Follow: true}); !errors.Is(err, client.ErrInvalid) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("an error of fn stops the replay", func(t *testing.T) {
		boom, n := errors.New("boom"), 0
		err := c.ReplayEach(ctx, client.ReplayFilter{}, func(client.LogEntry) error { n++; return boom })
		if !errors.Is(err, boom) || n != 1 {
			t.Errorf("err = %v after %d calls", err, n)
		}
	})
}

func TestReplayFollow(t *testing.T) {
	cfg, c, pub := newTestClient(t)
	recs := loadFixture(t, cfg, pub)
	want := 0
	for _, r := range recs {
		if (r.Topic == "saga.events" || r.Topic == "notification.events") && (r.Partition != 1 || r.Offset >= 2) {
			want++
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan client.LogEntry, 1000)
	done := make(chan error, 1)
	f := client.ReplayFilter{Topics: []string{"saga.events", "notification.events"}, FromOffsets: map[int32]int64{1: 2}, Follow: true}
	go func() {
		done <- c.ReplayEach(ctx, f, func(e client.LogEntry) error { got <- e; return nil })
	}()
	var seen []client.LogEntry
	next := func(what string) client.LogEntry {
		t.Helper()
		select {
		case e := <-got:
			seen = append(seen, e)
			return e
		case err := <-done:
			t.Fatalf("follow ended while waiting for %s: %v", what, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s within 30s (%d records so far)", what, len(seen))
		}
		return client.LogEntry{}
	}
	for range want {
		next("a record of the fixture")
	}

	// A record written now arrives too: a version 1 notification, upcast.
	var note fixtureRecord
	for _, r := range recs {
		if events.Type(r.Headers[events.HeaderType]) == events.NotificationSent {
			note = r
		}
	}
	note.Headers = map[string]string{}
	for k, v := range recs[len(recs)-1].Headers {
		note.Headers[k] = v
	}
	note.Headers[events.HeaderID] = "follow-new-record"
	note.Headers[events.HeaderType] = string(events.NotificationSent)
	publishRecord(t, cfg, pub, note)
	if e := next("the new record"); e.ID != "follow-new-record" || e.Version != 2 || !strings.Contains(string(e.Payload), `"channel":"email"`) {
		t.Errorf("new record = %+v", e)
	}

	// Records of topics not followed, and of partitions before their
	// offset, are not delivered; each partition arrives in log order.
	last := map[string]int64{}
	for _, e := range seen {
		if e.Topic != "saga.events" && e.Topic != "notification.events" {
			t.Errorf("followed a record of %s", e.Topic)
		}
		if e.Partition == 1 && e.Offset < 2 {
			t.Errorf("%s/%d@%d is before the offset asked", e.Topic, e.Partition, e.Offset)
		}
		tp := fmt.Sprintf("%s/%d", e.Topic, e.Partition)
		if prev, ok := last[tp]; ok && e.Offset <= prev {
			t.Errorf("%s: offset %d after %d", tp, e.Offset, prev)
		}
		last[tp] = e.Offset
	}
	select {
	case e := <-got:
		t.Errorf("an extra record: %+v", e)
	case <-time.After(300 * time.Millisecond):
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("follow ended with %v, want nil at the end of its context", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow did not end with its context")
	}

	t.Run("an error of fn ends the follow", func(t *testing.T) {
		boom := errors.New("boom")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := c.ReplayEach(ctx, client.ReplayFilter{Follow: true}, func(client.LogEntry) error { return boom })
		if !errors.Is(err, boom) || ctx.Err() != nil {
			t.Errorf("err = %v (ctx %v), want boom at once", err, ctx.Err())
		}
	})
}

func TestReplayFilterValidate(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	ok := []client.ReplayFilter{
		{},
		{Topics: client.ReplayTopics(), Types: []events.Type{events.StepFailed, events.StartSaga}},
		{Since: now, Until: now.Add(time.Second)},
		{Since: now, Follow: true},
		{Topics: []string{"payment.events"}, TopicOffsets: map[string]map[int32]int64{"payment.events": {0: 0, 3: 7}}},
		{TopicOffsets: map[string]map[int32]int64{"saga.events": {0: 1}}, FromOffsets: map[int32]int64{1: 2}},
	}
	for _, f := range ok {
		if err := f.Validate(); err != nil {
			t.Errorf("Validate(%+v) = %v", f, err)
		}
	}
	bad := []struct {
		name  string
		f     client.ReplayFilter
		wants []string
	}{
		{"unknown topic", client.ReplayFilter{Topics: []string{"saga.event"}}, []string{`unknown topic "saga.event"`, "saga.events"}},
		{"unknown type", client.ReplayFilter{Types: []events.Type{"StepFaild"}}, []string{`unknown type "StepFaild"`}},
		{"since not before until", client.ReplayFilter{Since: now, Until: now}, []string{"must be before until"}},
		{"until with follow", client.ReplayFilter{Until: now, Follow: true}, []string{"until cannot be combined with follow"}},
		{"negative offset", client.ReplayFilter{FromOffsets: map[int32]int64{0: -1}}, []string{"offset -1 of partition 0 must not be negative"}},
		{"negative partition", client.ReplayFilter{TopicOffsets: map[string]map[int32]int64{"saga.events": {-1: 0}}}, []string{"partition saga.events:-1 must not be negative"}},
		{"offsets of an unknown topic", client.ReplayFilter{TopicOffsets: map[string]map[int32]int64{"nope": {0: 1}}}, []string{`offsets for unknown topic "nope"`}},
		{"offsets of a topic not read", client.ReplayFilter{Topics: []string{"saga.events"}, TopicOffsets: map[string]map[int32]int64{"payment.events": {0: 1}}},
			[]string{"offsets for topic payment.events, which is not read (reading saga.events)"}},
		{"everything wrong at once", client.ReplayFilter{Topics: []string{"x"}, Types: []events.Type{"Y"}, Since: now, Until: now.Add(-time.Hour)},
			[]string{`unknown topic "x"`, `unknown type "Y"`, "must be before until"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Validate()
			if !errors.Is(err, client.ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestReplayFilterMatch(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	e := events.Envelope{SagaID: "s1", CorrelationID: "BK-1", Type: events.StepFailed, OccurredAt: at}
	for _, c := range []struct {
		f    client.ReplayFilter
		want bool
	}{
		{client.ReplayFilter{}, true},
		{client.ReplayFilter{SagaID: "s1", BookingRef: "BK-1", Types: []events.Type{"SagaStarted", events.StepFailed}}, true},
		{client.ReplayFilter{SagaID: "s2"}, false},
		{client.ReplayFilter{BookingRef: "BK-2"}, false},
		{client.ReplayFilter{Types: []events.Type{"SagaStarted"}}, false},
		{client.ReplayFilter{Since: at}, true},                          // since is inclusive
		{client.ReplayFilter{Since: at.Add(time.Nanosecond)}, false},    //
		{client.ReplayFilter{Until: at}, false},                         // until is exclusive
		{client.ReplayFilter{Until: at.Add(time.Nanosecond)}, true},     //
		{client.ReplayFilter{Topics: []string{"payment.events"}}, true}, // topics say where to read
	} {
		if got := c.f.Match(e); got != c.want {
			t.Errorf("%+v.Match = %v, want %v", c.f, got, c.want)
		}
	}
}

func TestParseOffsets(t *testing.T) {
	type m = map[int32]int64
	for _, c := range []struct {
		specs   []string
		every   m
		byTopic map[string]m
	}{
		{nil, nil, nil},
		{[]string{"0=120,1=98"}, m{0: 120, 1: 98}, nil},
		{[]string{"0=120", "1=98"}, m{0: 120, 1: 98}, nil},
		{[]string{"saga.events:0=120"}, nil, map[string]m{"saga.events": {0: 120}}},
		// The topic carries on to the bare items after it in the same value.
		{[]string{"saga.events:0=120,1=98"}, nil, map[string]m{"saga.events": {0: 120, 1: 98}}},
		{[]string{"2=5,saga.events:0=120,1=98", "1=7"}, m{2: 5, 1: 7}, map[string]m{"saga.events": {0: 120, 1: 98}}},
		{[]string{" 0 = 1 , payment.events:3=0"}, m{0: 1}, map[string]m{"payment.events": {3: 0}}},
		{[]string{"saga.events:0=1", "payment.events:0=2"}, nil, map[string]m{"saga.events": {0: 1}, "payment.events": {0: 2}}},
	} {
		every, byTopic, err := client.ParseOffsets(c.specs)
		if err != nil || !reflect.DeepEqual(every, c.every) || !reflect.DeepEqual(byTopic, c.byTopic) {
			t.Errorf("ParseOffsets(%q) = %v, %v, %v; want %v, %v", c.specs, every, byTopic, err, c.every, c.byTopic)
		}
	}
	for _, c := range []struct {
		specs []string
		wants []string
	}{
		{[]string{""}, []string{`"" is not PARTITION=OFFSET or TOPIC:PARTITION=OFFSET`}},
		{[]string{"120"}, []string{`"120" is not PARTITION=OFFSET`}},
		{[]string{"0=120,"}, []string{`"" is not PARTITION=OFFSET`}},
		{[]string{"a=1"}, []string{`partition "a" is not a number from 0`}},
		{[]string{"-1=1"}, []string{`partition "-1" is not a number from 0`}},
		{[]string{"0=x"}, []string{`offset "x" is not a number from 0`}},
		{[]string{"0=-5"}, []string{`offset "-5" is not a number from 0`}},
		{[]string{"0=99999999999999999999"}, []string{"is not a number from 0"}},
		{[]string{"99999999999=1"}, []string{"is not a number from 0"}},
		{[]string{":0=1"}, []string{"topic before ':' is empty"}},
		{[]string{"0=1", "0=2"}, []string{"partition 0 is given twice"}},
		{[]string{"saga.events:0=1,0=2"}, []string{"partition 0 is given twice"}},
		{[]string{"x", "0=y"}, []string{`"x" is not`, `offset "y"`}},
	} {
		every, byTopic, err := client.ParseOffsets(c.specs)
		if err == nil || every != nil || byTopic != nil {
			t.Errorf("ParseOffsets(%q) = %v, %v, %v; want an error", c.specs, every, byTopic, err)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseOffsets(%q): error %q does not mention %q", c.specs, err, w)
			}
		}
	}
}
