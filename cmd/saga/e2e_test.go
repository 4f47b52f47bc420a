package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/system"
)

// startSystem starts a dedicated embedded broker and the whole system on
// it, without a namespace (the CLI has no namespace flag), and returns the
// broker addresses for --brokers. Everything stops at the end of the test.
func startSystem(t *testing.T) string {
	t.Helper()
	emb := bustest.StartEmbedded(t, t.TempDir())
	cfg := bus.Config{Brokers: emb.Addrs()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	go func() { done <- system.Run(runCtx, system.Config{Bus: trusted(cfg, ""), Keys: testKeys, Log: log}) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("system stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("system did not stop within 30s")
		}
	})
	return strings.Join(emb.Addrs(), ",")
}

type receipt struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
}

type inspected struct {
	Booking *struct {
		SagaID string `json:"saga_id"`
		Status string `json:"status"`
	} `json:"booking"`
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	Definition string `json:"definition"`
	Status     string `json:"status"`
	Steps      []struct {
		Name         string `json:"name"`
		Status       string `json:"status"`
		Attempts     int    `json:"attempts"`
		Compensation int    `json:"compensation_attempts"`
	} `json:"steps"`
	Events []struct {
		Seq  int       `json:"seq"`
		Type string    `json:"type"`
		Step string    `json:"step"`
		At   time.Time `json:"at"`
	} `json:"events"`
	Show *struct {
		ShowID    string `json:"show_id"`
		Capacity  int    `json:"capacity"`
		Held      int    `json:"held"`
		Confirmed int    `json:"confirmed"`
		Available int    `json:"available"`
	} `json:"show"`
}

func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.wantOK(t)), &v); err != nil {
		t.Fatalf("saga %s: stdout is not the JSON expected: %v\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
	return v
}

// jsonLines parses stdout as JSON lines, each an object.
func jsonLines(t *testing.T, r result) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.wantOK(t)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("saga %s: line %q is not a JSON object: %v", strings.Join(r.args, " "), sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// keyWhoseBookingReadsLast returns an idempotency key whose booking saga
// lies on a later partition of saga.events than its cancellation saga, so
// that a read of the log (partition 0 first) meets the cancellation before
// the booking.
func keyWhoseBookingReadsLast(t *testing.T) string {
	for i := range 1000 {
		key := fmt.Sprintf("e2e-booking-%d", i)
		sagaID := events.SagaIDFor(key)
		cancelID := events.SagaIDFor("cancel:" + events.BookingRefFor(sagaID))
		if bus.PartitionFor(sagaID, bus.DefaultPartitions) > bus.PartitionFor(cancelID, bus.DefaultPartitions) {
			return key
		}
	}
	t.Fatal("no key found")
	return ""
}

func TestCLIEndToEnd(t *testing.T) {
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		t.Skipf("KAFKA_BROKERS=%s is set: this test needs a broker of its own, since the CLI has no namespace flag to keep its topics apart on a shared cluster", env)
	}
	brokers := startSystem(t)
	saga := func(args ...string) result {
		t.Helper()
		return cliWithin(t, 60*time.Second, append([]string{"--brokers", brokers}, args...)...)
	}

	// A booking that completes, and one whose card is declined.
	key := keyWhoseBookingReadsLast(t)
	okRec := decodeJSON[receipt](t, saga("book", "--user", "alice", "--show", "show-1", "--seats", "2",
		"--payment-token", "tok_ok", "--idempotency-key", key, "--wait", "30s", "-o", "json"))
	if okRec.SagaID != events.SagaIDFor(key) || okRec.BookingRef != events.BookingRefFor(okRec.SagaID) || okRec.Status != "completed" {
		t.Fatalf("book tok_ok = %+v, want saga %s completed", okRec, events.SagaIDFor(key))
	}
	refused := saga("book", "--user", "alice", "--show", "show-1", "--seats", "2",
		"--payment-token", "tok_declined", "--wait", "30s", "-o", "json")
	var declined receipt
	if err := json.Unmarshal([]byte(refused.stdout), &declined); err != nil || refused.code != exitCompensated {
		t.Fatalf("book tok_declined: exit %d (want %d), stdout %q: %v", refused.code, exitCompensated, refused.stdout, err)
	}
	if e := jsonError(t, refused); e.ExitStatus != exitCompensated || !strings.Contains(e.Error, "compensated") {
		t.Errorf("book tok_declined: stderr %q, want the JSON error of a compensated saga", refused.stderr)
	}
	if declined.SagaID == "" || declined.BookingRef == "" || declined.Status != "compensated" || !strings.Contains(declined.Reason, "card declined") {
		t.Fatalf("book tok_declined = %+v, want compensated because the card was declined", declined)
	}

	// The same idempotency key starts nothing new.
	again := decodeJSON[receipt](t, saga("book", "--user", "alice", "--show", "show-1", "--seats", "2",
		"--payment-token", "tok_ok", "--idempotency-key", key, "--wait", "30s", "-o", "json"))
	if again.SagaID != okRec.SagaID || again.BookingRef != okRec.BookingRef || again.Status != "completed" {
		t.Errorf("repeated book = %+v, want %+v", again, okRec)
	}
	// The same key with another request is refused, naming the key.
	saga("book", "--user", "bob", "--show", "show-1", "--seats", "3", "--payment-token", "tok_ok",
		"--idempotency-key", key, "--wait", "30s").wantFailure(t, exitUsage, "idempotency key \""+key+"\"", "another request")
	saga("book", "--user", "bob", "--show", "show-1", "--seats", "3", "--payment-token", "tok_ok",
		"--idempotency-key", key, "--wait", "30s", "-o", "json").wantFailure(t, exitUsage, key)

	t.Run("inspect declined", func(t *testing.T) {
		v := decodeJSON[inspected](t, saga("inspect", declined.BookingRef, "-o", "json"))
		if v.SagaID != declined.SagaID || v.BookingRef != declined.BookingRef || v.Status != "compensated" || v.Definition != "book-ticket" {
			t.Errorf("inspect = %s %s %s %s", v.SagaID, v.BookingRef, v.Definition, v.Status)
		}
		steps := map[string]string{}
		for _, s := range v.Steps {
			steps[s.Name] = s.Status
		}
		want := map[string]string{"VerifyUser": "succeeded", "ReserveSeats": "compensated", "ChargePayment": "failed", "ConfirmBooking": "skipped", "SendNotification": "skipped"}
		if fmt.Sprint(steps) != fmt.Sprint(want) {
			t.Errorf("steps = %v, want %v", steps, want)
		}
		if len(v.Events) < 10 {
			t.Errorf("timeline has %d events, want at least 10", len(v.Events))
		}
		for i, e := range v.Events {
			if e.Seq != i+1 || e.Type == "" || e.At.IsZero() {
				t.Errorf("event %d = %+v, want seq, type and at", i, e)
			}
		}
		if len(v.Events) > 0 && (v.Events[0].Type != "SagaStarted" || v.Events[len(v.Events)-1].Type != "SagaCompensated") {
			t.Errorf("timeline from %s to %s", v.Events[0].Type, v.Events[len(v.Events)-1].Type)
		}
		// Only the completed booking holds seats: the declined one gave its two back.
		if v.Show == nil || v.Show.ShowID != "show-1" || v.Show.Capacity != 100 || v.Show.Held != 2 || v.Show.Confirmed != 2 || v.Show.Available != 98 {
			t.Errorf("show = %+v, want show-1 with 2 held and confirmed, 98 available", v.Show)
		}
	})

	t.Run("inspect as text", func(t *testing.T) {
		out := saga("inspect", okRec.SagaID).wantOK(t)
		for _, want := range []string{"saga_id:            " + okRec.SagaID, "booking_ref:        " + okRec.BookingRef,
			"status:             completed", "definition:         book-ticket", "definition_version: " + flows.BookTicketDefinition().Version,
			"STEPS", "TIMELINE", "SagaCompleted", "SHOW show-1: 98 of 100 seats available; 2 taken by bookings, 2 of them confirmed"} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect text lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("inspect unknown", func(t *testing.T) {
		saga("inspect", "BK-NOPE0000").wantFailure(t, exitError, "not found", "BK-NOPE0000")
	})

	t.Run("list", func(t *testing.T) {
		var items []map[string]any
		r := saga("list", "-o", "json")
		if err := json.Unmarshal([]byte(r.wantOK(t)), &items); err != nil {
			t.Fatalf("list -o json is not a JSON array of objects: %v\n%s", err, r.stdout)
		}
		if len(items) != 2 {
			t.Fatalf("list has %d sagas, want 2: %v", len(items), items)
		}
		for i, want := range []receipt{okRec, declined} {
			it := items[i]
			if it["saga_id"] != want.SagaID || it["booking_ref"] != want.BookingRef || it["status"] != want.Status {
				t.Errorf("list[%d] = %v, want %+v (in the order they started)", i, it, want)
			}
		}
		for _, tt := range []struct {
			status string
			want   []string
		}{{"completed", []string{okRec.SagaID}}, {"compensated", []string{declined.SagaID}}, {"failed", nil}, {"running", nil}} {
			var got []map[string]any
			r := saga("list", "--status", tt.status, "-o", "json")
			if err := json.Unmarshal([]byte(r.wantOK(t)), &got); err != nil || got == nil {
				t.Fatalf("list --status %s: %v\n%s", tt.status, err, r.stdout)
			}
			var ids []string
			for _, it := range got {
				ids = append(ids, fmt.Sprint(it["saga_id"]))
				if it["status"] != tt.status {
					t.Errorf("list --status %s returned %v", tt.status, it)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("list --status %s = %v, want %v", tt.status, ids, tt.want)
			}
		}
		listed := saga("list")
		text := listed.wantOK(t)
		if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "SAGA ID") ||
			!strings.Contains(lines[1], okRec.BookingRef) || !strings.Contains(lines[2], declined.BookingRef) ||
			!strings.Contains(listed.stderr, "answered from the logs") {
			t.Errorf("list as text (a table; on stderr where the answer comes from):\n%s\n%s", text, listed.stderr)
		}
	})

	t.Run("replay", func(t *testing.T) {
		all := jsonLines(t, saga("replay", "-o", "json"))
		if len(all) == 0 {
			t.Fatal("replay printed nothing")
		}
		types, sagas := map[string]bool{}, map[string]bool{}
		var last time.Time
		for _, e := range all {
			at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(e["occurred_at"]))
			if e["type"] == nil || e["type"] == "" || err != nil {
				t.Fatalf("replay line without type or occurred_at: %v", e)
			}
			if at.Before(last) {
				t.Errorf("replay is not in time order: %s after %s", at, last)
			}
			last = at
			types[fmt.Sprint(e["type"])] = true
			sagas[fmt.Sprint(e["saga_id"])] = true
		}
		for _, want := range []string{"SagaStarted", "SagaCompleted", "SagaCompensated", "SeatsReserved", "SeatsReleased", "PaymentCharged", "PaymentDeclined", "NotificationSent"} {
			if !types[want] {
				t.Errorf("replay has no %s", want)
			}
		}
		if !sagas[okRec.SagaID] || !sagas[declined.SagaID] {
			t.Errorf("replay lacks a saga: %v", sagas)
		}

		saga("replay", "--saga", "nope").wantFailure(t, exitError, "not found", "nope")
		one := jsonLines(t, saga("replay", "--saga", declined.SagaID, "-o", "json"))
		if len(one) == 0 || len(one) >= len(all) {
			t.Fatalf("replay --saga printed %d of %d records", len(one), len(all))
		}
		for _, e := range one {
			if e["saga_id"] != declined.SagaID || e["type"] == nil || e["occurred_at"] == nil {
				t.Errorf("replay --saga %s printed %v", declined.SagaID, e)
			}
		}
		for _, e := range jsonLines(t, saga("replay", "--topic", "saga.events", "-o", "json")) {
			if e["topic"] != "saga.events" {
				t.Errorf("replay --topic saga.events printed %v", e)
			}
		}
		if text := saga("replay", "--saga", okRec.SagaID).wantOK(t); !strings.Contains(text, "SagaCompleted") || !strings.Contains(text, okRec.BookingRef) {
			t.Errorf("replay as text:\n%s", text)
		}
	})

	t.Run("cancel a compensated booking", func(t *testing.T) {
		saga("cancel", declined.BookingRef).wantFailure(t, exitError, "only completed bookings can be cancelled")
	})

	t.Run("cancel", func(t *testing.T) {
		c := decodeJSON[receipt](t, saga("cancel", okRec.BookingRef, "--wait", "30s", "-o", "json"))
		if c.Status != "completed" || c.BookingRef != okRec.BookingRef || c.SagaID != events.SagaIDFor("cancel:"+okRec.BookingRef) {
			t.Fatalf("cancel = %+v, want the cancel-booking saga of %s completed", c, okRec.BookingRef)
		}
		v := decodeJSON[inspected](t, saga("inspect", okRec.BookingRef, "-o", "json"))
		if v.Show == nil || v.Show.ShowID != "show-1" || v.Show.Held != 0 || v.Show.Confirmed != 0 || v.Show.Available != 100 {
			t.Errorf("after the cancellation show = %+v, want show-1 with 100 available", v.Show)
		}
		// A booking reference names the booking and its cancellation; inspect
		// shows the latest of them, whatever partitions they landed on.
		if v.Booking == nil || v.Booking.SagaID != okRec.SagaID || v.Booking.Status != "completed" {
			t.Errorf("inspect %s after the cancellation does not show the booking's own saga: %+v", okRec.BookingRef, v.Booking)
		}
		if v.SagaID != c.SagaID || v.Definition != "cancel-booking" {
			t.Errorf("inspect %s after the cancellation shows saga %s (%s %s), want the latest saga of the booking: cancellation %s",
				okRec.BookingRef, v.SagaID, v.Definition, v.Status, c.SagaID)
		}
		var items []map[string]any
		if err := json.Unmarshal([]byte(saga("list", "--status", "completed", "-o", "json").wantOK(t)), &items); err != nil || len(items) != 2 ||
			items[1]["saga_id"] != c.SagaID || items[1]["definition"] != "cancel-booking" {
			t.Errorf("list --status completed after the cancellation = %v (%v)", items, err)
		}
		for def, want := range map[string]string{"cancel-booking": c.SagaID, "book-ticket": okRec.SagaID} {
			var got []map[string]any
			if err := json.Unmarshal([]byte(saga("list", "--status", "completed", "--definition", def, "-o", "json").wantOK(t)), &got); err != nil ||
				len(got) != 1 || got[0]["saga_id"] != want {
				t.Errorf("list --status completed --definition %s = %v (%v), want saga %s alone", def, got, err, want)
			}
		}
		// Cancelling again starts nothing new: the key derives from the reference.
		again := decodeJSON[receipt](t, saga("cancel", okRec.BookingRef, "--wait", "30s", "-o", "json"))
		if again.SagaID != c.SagaID || again.Status != "completed" {
			t.Errorf("second cancel = %+v, want %+v", again, c)
		}
	})

	t.Run("book without wait", func(t *testing.T) {
		r := decodeJSON[receipt](t, saga("book", "--user", "bob", "--show", "show-small", "--seats", "1", "--payment-token", "tok_ok", "-o", "json"))
		if r.SagaID == "" || r.BookingRef == "" || r.Status != "running" {
			t.Errorf("book without --wait = %+v, want the receipt with status running", r)
		}
		// A wait too short for the saga: the receipt on stdout, exit 5 and
		// one JSON line saying the saga is still running.
		short := saga("book", "--user", "mallory", "--show", "show-1", "--seats", "1", "--payment-token", "tok_ok", "--wait", "1ms", "-o", "json")
		var rec receipt
		if short.code != exitRunning || json.Unmarshal([]byte(short.stdout), &rec) != nil || rec.SagaID == "" ||
			jsonError(t, short).Error != "saga "+rec.SagaID+" still running after 1ms" {
			t.Errorf("book --wait 1ms: exit %d, stdout %q, stderr %q", short.code, short.stdout, short.stderr)
		}
		// Text: a blocked user's booking ends compensated, exit 3.
		blocked := saga("book", "--user", "mallory", "--show", "show-1", "--seats", "1", "--payment-token", "tok_ok", "--wait", "30s")
		if blocked.code != exitCompensated || !strings.Contains(blocked.stdout, "status:      compensated") ||
			!strings.HasPrefix(blocked.stderr, "saga: saga ") || !strings.Contains(blocked.stderr, "ended compensated: VerifyUser failed") {
			t.Errorf("book mallory --wait: exit %d, stdout %q, stderr %q", blocked.code, blocked.stdout, blocked.stderr)
		}
		text := saga("book", "--user", "bob", "--show", "show-small", "--seats", "1", "--payment-token", "tok_ok", "--wait", "30s").wantOK(t)
		if !strings.Contains(text, "saga_id:") || !strings.Contains(text, "booking_ref: BK-") || !strings.Contains(text, "status:      completed") {
			t.Errorf("book as text:\n%s", text)
		}
	})
}
