package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

func TestReplayUsageErrors(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	replay := func(extra ...string) []string {
		return append([]string{"--brokers", unreachable, "replay"}, extra...)
	}
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"since not a time", replay("--since", "yesterday"), []string{`--since: "yesterday" is neither an RFC 3339 time`}},
		{"until not a time", replay("--until", "2025-13-01T00:00:00Z"), []string{"--until:", "RFC 3339"}},
		{"since a date without a time", replay("--since", "2025-03-14"), []string{"--since:"}},
		{"since after until", replay("--since", "1h", "--until", "2h"), []string{"must be before until"}},
		{"until with follow", replay("--until", "1h", "--follow"), []string{"until cannot be combined with follow"}},
		{"unknown topic", replay("--topic", "saga.event"), []string{`unknown topic "saga.event"`}},
		{"unknown topic in a list", replay("--topic", "saga.events,payments"), []string{`unknown topic "payments"`}},
		{"unknown type", replay("--type", "StepFaild"), []string{`unknown type "StepFaild"`}},
		{"offset without partition", replay("--from-offset", "120"), []string{`--from-offset: "120" is not PARTITION=OFFSET or TOPIC:PARTITION=OFFSET`}},
		{"offset not a number", replay("--from-offset", "0=abc"), []string{`offset "abc" is not a number`}},
		{"negative offset", replay("--from-offset", "0=-1"), []string{`offset "-1" is not a number from 0`}},
		{"partition twice", replay("--from-offset", "0=1,0=2"), []string{"partition 0 is given twice"}},
		{"offset of an unknown topic", replay("--from-offset", "nope:0=1"), []string{`offsets for unknown topic "nope"`}},
		{"offset of a topic not read", replay("--topic", "saga.events", "--from-offset", "payment.events:0=1"), []string{"which is not read"}},
		{"every problem at once", replay("--since", "x", "--until", "y", "--from-offset", "z", "--topic", "t", "--type", "T"),
			[]string{"--since:", "--until:", "--from-offset:", `unknown topic "t"`, `unknown type "T"`}},
		{"follow takes no value", replay("--follow=maybe"), []string{"--follow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cliWithin(t, 30*time.Second, tt.args...).wantFailure(t, exitUsage, tt.wants...)
		})
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2025-03-14T09:00:00Z", time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)},
		{"2025-03-14T09:00:00.25Z", time.Date(2025, 3, 14, 9, 0, 0, 250e6, time.UTC)},
		{"2025-03-14T10:00:00+01:00", time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)},
		{"1h", now.Add(-time.Hour)},
		{"-1h", now.Add(-time.Hour)},
		{" 90m ", now.Add(-90 * time.Minute)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"0s", now},
	} {
		got, err := parseWhen(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"yesterday", "1 hour", "2025-03-14", "09:00", "1d", "2025-03-14 09:00:00"} {
		if _, err := parseWhen(in, now); err == nil {
			t.Errorf("parseWhen(%q) = nil error", in)
		}
	}
}

// Every line of -o json is one JSON object that jq reads, whatever the
// payload holds: newlines, HTML, line separators, non-ASCII.
func TestReplayJSONLines(t *testing.T) {
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	entries := []client.LogEntry{
		{Topic: "saga.events", Partition: 0, Offset: 1, Key: "k", ID: "a", Type: events.StepFailed, Version: 1, SagaID: "s",
			OccurredAt: at, Payload: json.RawMessage("{\n  \"step\": \"ChargePayment\",\n  \"attempt\": 1,\n  \"reason\": \"card <declined> & \\u2028 done\"\n}")},
		{Topic: "notification.events", Partition: 3, Offset: 7, Key: "carol", ID: "b", Type: events.NotificationSent, Version: 2,
			CorrelationID: "BK-A", Actor: "carol", OccurredAt: at, Payload: json.RawMessage(`{"message":"Ihre Buchung für 2 Plätze","channel":"email"}`)},
		{Topic: "saga.events", ID: "c", Type: events.SagaCompleted, Version: 1, OccurredAt: at, Payload: json.RawMessage(`{}`)},
	}
	var out bytes.Buffer
	emit := entryPrinter(&out, true)
	for _, e := range entries {
		if err := emit(e); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(entries) {
		t.Fatalf("%d lines for %d entries:\n%s", len(lines), len(entries), out.String())
	}
	for i, line := range lines {
		var got client.LogEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil || dec.More() {
			t.Fatalf("line %d is not one JSON object: %v\n%s", i, err, line)
		}
		if got.Type != entries[i].Type || got.ID != entries[i].ID || !got.OccurredAt.Equal(at) {
			t.Errorf("line %d = %+v", i, got)
		}
		var want, have any
		_ = json.Unmarshal(entries[i].Payload, &want)
		if err := json.Unmarshal(got.Payload, &have); err != nil || fmt.Sprint(have) != fmt.Sprint(want) {
			t.Errorf("line %d payload = %s, want %s", i, got.Payload, entries[i].Payload)
		}
	}
	if types := jqTypes(t, out.Bytes()); types != nil && strings.Join(types, " ") != `"StepFailed" "NotificationSent" "SagaCompleted"` {
		t.Errorf("jq -c .type = %q", types)
	}

	// Text is one line per record too.
	out.Reset()
	emit = entryPrinter(&out, false)
	for _, e := range entries {
		if err := emit(e); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != len(entries) || !strings.Contains(out.String(), `{"step":"ChargePayment","attempt":1,`) {
		t.Errorf("text output, %d lines:\n%s", n, out.String())
	}
}

// jqTypes runs `jq -c .type` over JSON lines, or returns nil without jq.
func jqTypes(t *testing.T, lines []byte) []string {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Log("jq is not installed: not run")
		return nil
	}
	cmd := exec.Command("jq", "-c", ".type")
	cmd.Stdin = bytes.NewReader(lines)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jq -c .type: %v", err)
	}
	return strings.Fields(string(out))
}

// fixtureRecord is one line of the committed log of version 1 records
// (events/testdata/v1_log.jsonl).
type fixtureRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Payload   json.RawMessage   `json:"payload"`
}

// startReplayBroker writes the fixture to fresh topics on a broker of the
// test's own and returns the flags that point the CLI at them.
func startReplayBroker(t *testing.T) ([]string, bus.Config, message.Publisher, []fixtureRecord) {
	t.Helper()
	cfg := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// The committed fixture's records were placed by FNV-1a, the
	// partitioner of the builds that wrote it.
	fixtureCfg := cfg
	fixtureCfg.Partitioner = bus.FNV1a
	pub, err := bus.NewPublisher(fixtureCfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	raw, err := os.ReadFile("../../events/testdata/v1_log.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var recs []fixtureRecord
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r fixtureRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		publishFixture(t, cfg, pub, r)
		recs = append(recs, r)
	}
	return []string{"--brokers", strings.Join(cfg.Brokers, ","), "--namespace", cfg.Namespace}, cfg, pub, recs
}

func publishFixture(t *testing.T, cfg bus.Config, pub message.Publisher, r fixtureRecord) {
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

func TestReplayCLI(t *testing.T) {
	conn, cfg, pub, recs := startReplayBroker(t)
	saga := func(args ...string) result {
		t.Helper()
		return cliWithin(t, 60*time.Second, append(append([]string{}, conn...), args...)...)
	}
	count := func(keep func(fixtureRecord) bool) int {
		n := 0
		for _, r := range recs {
			if keep(r) {
				n++
			}
		}
		return n
	}

	t.Run("type, piped to jq", func(t *testing.T) {
		r := saga("replay", "-o", "json", "--type", "StepFailed")
		lines := jsonLines(t, r)
		want := count(func(r fixtureRecord) bool { return events.Type(r.Headers[events.HeaderType]) == events.StepFailed })
		if len(lines) != want || want == 0 {
			t.Fatalf("%d lines, want %d:\n%s", len(lines), want, r.stdout)
		}
		for _, l := range lines {
			if l["type"] != string(events.StepFailed) || l["topic"] != "saga.events" {
				t.Errorf("line %v", l)
			}
		}
		if types := jqTypes(t, []byte(r.stdout)); types != nil {
			t.Logf("saga replay -o json --type StepFailed | jq -c .type\n%s", strings.Join(types, "\n"))
			if len(types) != want {
				t.Errorf("jq -c .type = %q, want %d lines", types, want)
			}
			for _, typ := range types {
				if typ != `"`+string(events.StepFailed)+`"` {
					t.Errorf("jq -c .type printed %q, want %q", typ, `"`+string(events.StepFailed)+`"`)
				}
			}
		}
	})

	t.Run("everything, upcast", func(t *testing.T) {
		lines := jsonLines(t, saga("replay", "-o", "json"))
		if len(lines) != len(recs) {
			t.Fatalf("%d lines, want the fixture's %d", len(lines), len(recs))
		}
		for _, l := range lines {
			if l["type"] == string(events.NotificationSent) {
				p, _ := l["payload"].(map[string]any)
				if l["version"] != 2.0 || p["channel"] != "email" {
					t.Errorf("NotificationSent printed as %v", l)
				}
			}
		}
	})

	t.Run("booking ref, since and until", func(t *testing.T) {
		ref := events.BookingRefFor(events.SagaIDFor("v1-fixture-cancelled"))
		since, until := recs[10].Headers[events.HeaderOccurredAt], recs[len(recs)-5].Headers[events.HeaderOccurredAt]
		lines := jsonLines(t, saga("replay", "-o", "json", "--booking-ref", ref, "--since", since, "--until", until))
		want := count(func(r fixtureRecord) bool {
			at := r.Headers[events.HeaderOccurredAt]
			return r.Headers[events.HeaderCorrelationID] == ref && at >= since && at < until
		})
		if len(lines) != want || want == 0 {
			t.Errorf("%d lines, want %d", len(lines), want)
		}
		// The fixture is from 2025: an hour ago is after all of it.
		if out := saga("replay", "--since", "1h").wantOK(t); out != "" {
			t.Errorf("--since 1h printed:\n%s", out)
		}
		if lines := jsonLines(t, saga("replay", "-o", "json", "--until", "-1h", "--type", "SagaCompleted")); len(lines) != 4 {
			t.Errorf("--until -1h --type SagaCompleted: %d lines, want 4", len(lines))
		}
	})

	t.Run("topic and offsets", func(t *testing.T) {
		lines := jsonLines(t, saga("replay", "-o", "json", "--topic", "saga.events,payment.events", "--from-offset", "saga.events:0=5,1=2", "--from-offset", "3=1"))
		want := count(func(r fixtureRecord) bool {
			switch {
			case r.Topic == "saga.events":
				return (r.Partition != 0 || r.Offset >= 5) && (r.Partition != 1 || r.Offset >= 2) && (r.Partition != 3 || r.Offset >= 1)
			case r.Topic == "payment.events":
				return r.Partition != 3 || r.Offset >= 1
			}
			return false
		})
		if len(lines) != want || want == 0 {
			t.Errorf("%d lines, want %d", len(lines), want)
		}
		saga("replay", "--from-offset", "7=0").wantFailure(t, exitUsage, "saga.events, user.events, booking.events, payment.events, notification.events have 4 partitions (0 to 3): there is no partition 7")
		saga("replay", "--from-offset", "saga.events:7=0,9=1").wantFailure(t, exitUsage, "saga: saga.events has 4 partitions (0 to 3): there are no partitions 7, 9")
	})

	t.Run("text", func(t *testing.T) {
		id := events.SagaIDFor("v1-fixture-declined")
		out := saga("replay", "--saga", id).wantOK(t)
		if !strings.Contains(out, "SagaCompensated") || !strings.Contains(out, events.BookingRefFor(id)) {
			t.Errorf("text:\n%s", out)
		}
		want := count(func(r fixtureRecord) bool { return r.Headers[events.HeaderSagaID] == id })
		if n := strings.Count(out, "\n"); n != want {
			t.Errorf("%d lines, want %d", n, want)
		}
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			// A record written while the CLI follows, then Ctrl-C: the
			// delays are on purpose, so the record comes after the follow
			// starts and is printed before the interrupt.
			time.Sleep(time.Second)
			msg := message.NewMessage("followed-late", []byte(`{"reason":"written while following"}`))
			for k, v := range recs[0].Headers {
				if k != events.HeaderID {
					msg.Metadata.Set(k, v)
				}
			}
			msg.Metadata.Set(events.HeaderType, string(events.SagaFailed))
			msg.Metadata.Set(bus.MetaKey, recs[0].Key)
			if err := pub.Publish(cfg.Topic(events.TopicSagaLog), msg); err != nil {
				t.Errorf("publish: %v", err)
			}
			time.Sleep(4 * time.Second)
			cancel()
		}()
		r := cli(t, ctx, append(append([]string{}, conn...), "replay", "-o", "json", "-f", "--topic", "saga.events", "--type", "SagaFailed,SagaCompensated")...)
		lines := jsonLines(t, r)
		want := count(func(r fixtureRecord) bool { return events.Type(r.Headers[events.HeaderType]) == events.SagaCompensated }) + 1
		late := 0
		for _, l := range lines {
			if l["id"] == "followed-late" {
				late++
			}
		}
		if len(lines) != want || late != 1 {
			t.Errorf("follow printed %d lines, want %d with the late record once:\n%s", len(lines), want, r.stdout)
		}
	})
}
