package system_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/sign"
	"github.com/sagaflow/saga/system"
)

// sagaTimeout bounds how long one saga may take in these tests; a healthy
// system ends a saga in tens of milliseconds.
const sagaTimeout = 60 * time.Second

// testTimings keep deadlines and backoffs short, so that the fault tests
// (timeouts, retries) run in seconds.
var testTimings = flows.Timings{
	StepTimeout:       3 * time.Second,
	StepRetry:         saga.RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
	CompensationRetry: saga.RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
}

// harness is a running system on a fresh namespace and a client for it.
type harness struct {
	t *testing.T
	// cfg is the client's: signing as the client, trusting every part.
	cfg bus.Config
	c   *client.Client
	// keys are the parts' signing keys, which the system is run with,
	// from keyDir.
	keys   map[string]*sign.Key
	keyDir string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	keyDir := t.TempDir()
	keys, ring, err := sign.EnsureDir(keyDir, events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bustest.Start(t)
	cfg.Trust, cfg.Signer = ring, keys[events.PrincipalClient]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &harness{t: t, cfg: cfg, c: c, keys: keys, keyDir: keyDir}
}

// run starts the named parts (all when none) and returns a stop function
// that waits until they have stopped.
func (h *harness) run(parts ...string) (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(h.t)).Level(testLogLevel).With().Timestamp().Logger()
	go func() {
		done <- system.Run(ctx, system.Config{Bus: h.cfg, Log: log, Parts: parts, Timings: testTimings, Keys: h.keys})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("system stopped with: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

func (h *harness) book(user, show string, seats int, token string) client.Receipt {
	h.t.Helper()
	rec, err := h.c.Book(context.Background(), client.BookRequest{UserID: user, ShowID: show, Seats: seats, PaymentToken: token})
	if err != nil {
		h.t.Fatalf("book: %v", err)
	}
	return rec
}

func (h *harness) wait(rec client.Receipt) projections.SagaView {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sagaTimeout)
	defer cancel()
	v, err := h.c.Wait(ctx, rec.SagaID)
	if err != nil {
		h.t.Fatalf("wait for saga %s: %v (last status %q)", rec.SagaID, err, v.Status)
	}
	return v
}

func (h *harness) seats(show string) projections.ShowInventory {
	h.t.Helper()
	inv, err := h.c.Inventory(context.Background())
	if err != nil {
		h.t.Fatalf("inventory: %v", err)
	}
	s, _ := inv.Show(show)
	return s
}

func stepStatuses(v projections.SagaView) map[string]string {
	out := map[string]string{}
	for _, s := range v.Steps {
		out[s.Name] = s.Status
	}
	return out
}

func eventTypes(v projections.SagaView) []string {
	var out []string
	for _, e := range v.Events {
		out = append(out, e.Type+":"+e.Step)
	}
	return out
}

func TestBookingOutcomes(t *testing.T) {
	h := newHarness(t)
	h.run()

	tests := []struct {
		name       string
		user, show string
		seats      int
		token      string
		wantStatus string
		wantSteps  map[string]string
		wantReason string
	}{
		{name: "happy booking", user: "alice", show: "show-1", seats: 2, token: "tok_ok", wantStatus: "completed",
			wantSteps: map[string]string{"VerifyUser": "succeeded", "ReserveSeats": "succeeded", "ChargePayment": "succeeded", "ConfirmBooking": "succeeded", "SendNotification": "succeeded"}},
		{name: "blocked user fails at VerifyUser", user: "mallory", show: "show-1", seats: 1, token: "tok_ok", wantStatus: "compensated",
			wantSteps:  map[string]string{"VerifyUser": "failed", "ReserveSeats": "skipped", "ChargePayment": "skipped", "ConfirmBooking": "skipped", "SendNotification": "skipped"},
			wantReason: "VerifyUser failed"},
		{name: "declined card releases the seats", user: "bob", show: "show-1", seats: 3, token: "tok_declined", wantStatus: "compensated",
			wantSteps:  map[string]string{"VerifyUser": "succeeded", "ReserveSeats": "compensated", "ChargePayment": "failed", "ConfirmBooking": "skipped", "SendNotification": "skipped"},
			wantReason: "card declined"},
		{name: "more seats than the show has", user: "alice", show: "show-small", seats: 3, token: "tok_ok", wantStatus: "compensated",
			wantSteps:  map[string]string{"VerifyUser": "succeeded", "ReserveSeats": "failed", "ChargePayment": "skipped"},
			wantReason: "sold out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := h.wait(h.book(tt.user, tt.show, tt.seats, tt.token))
			if v.Status != tt.wantStatus {
				t.Fatalf("status = %s, want %s (reason %q)", v.Status, tt.wantStatus, v.Reason)
			}
			got := stepStatuses(v)
			for step, want := range tt.wantSteps {
				if got[step] != want {
					t.Errorf("step %s = %s, want %s", step, got[step], want)
				}
			}
			if !contains(v.Reason, tt.wantReason) {
				t.Errorf("reason %q does not mention %q", v.Reason, tt.wantReason)
			}
		})
	}
	// Only the happy booking holds seats of show-1: the declined one gave
	// its three back.
	if s := h.seats("show-1"); s.Held != 2 || s.Confirmed != 2 || s.Available != 98 {
		t.Errorf("show-1 inventory = %+v, want 2 held and confirmed, 98 available", s)
	}
}

func TestCompensationRunsInReverseOrder(t *testing.T) {
	h := newHarness(t)
	h.run()
	v := h.wait(h.book("bob", "show-1", 1, "tok_declined"))
	want := []string{"SagaStarted:", "StepStarted:VerifyUser", "StepSucceeded:VerifyUser", "StepStarted:ReserveSeats",
		"StepSucceeded:ReserveSeats", "StepStarted:ChargePayment", "StepFailed:ChargePayment",
		"CompensationStarted:ReserveSeats", "StepCompensated:ReserveSeats", "SagaCompensated:"}
	if got := eventTypes(v); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline\n got %v\nwant %v", got, want)
	}
}

func TestConcurrentBookingsNeverOversell(t *testing.T) {
	h := newHarness(t)
	h.run()
	const n = 50
	recs := make([]client.Receipt, n)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := []string{"alice", "bob"}[i%2]
			rec, err := h.c.Book(context.Background(), client.BookRequest{UserID: user, ShowID: "show-small", Seats: 1, PaymentToken: "tok_ok"})
			if err != nil {
				t.Errorf("book %d: %v", i, err)
			}
			recs[i] = rec
		}()
	}
	wg.Wait()
	var counts map[string]int
	bustest.Eventually(t, 2*sagaTimeout, func() (bool, string) {
		sagas, err := h.c.Sagas(context.Background())
		if err != nil {
			return false, err.Error()
		}
		counts = map[string]int{}
		for _, r := range recs {
			if s, ok := sagas.State(r.SagaID); ok {
				counts[string(s.Status)]++
			}
		}
		return counts["completed"]+counts["compensated"] == n, fmt.Sprintf("statuses %v", counts)
	})
	if counts["completed"] != 2 || counts["compensated"] != n-2 {
		t.Fatalf("completed %d, compensated %d; want 2 and %d", counts["completed"], counts["compensated"], n-2)
	}
	if s := h.seats("show-small"); s.Held != 2 || s.Available != 0 {
		t.Fatalf("show-small inventory = %+v, want 2 held, 0 available", s)
	}
}

func TestSameIdempotencyKeyStartsOneSaga(t *testing.T) {
	h := newHarness(t)
	h.run()
	req := client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", IdempotencyKey: "order-42"}
	first, err := h.c.Book(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := h.c.Book(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("same key gave %v and %v", first, second)
	}
	h.wait(first)
	// A third request after the saga ended still starts nothing new.
	if _, err := h.c.Book(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	marker := h.wait(h.book("bob", "show-1", 1, "tok_ok")) // processed after the repeats
	_ = marker
	sagas, err := h.c.Sagas(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(sagas.ByRef(first.BookingRef)); got != 1 {
		t.Fatalf("%d sagas for one idempotency key, want 1", got)
	}
	if s := h.seats("show-1"); s.Held != 2 {
		t.Fatalf("show-1 holds %d seats, want 2 (one per booking)", s.Held)
	}
}

func TestCancelBooking(t *testing.T) {
	h := newHarness(t)
	h.run()
	booked := h.wait(h.book("alice", "show-1", 4, "tok_ok"))
	if booked.Status != "completed" {
		t.Fatalf("booking %s", booked.Status)
	}
	rec, err := h.c.Cancel(context.Background(), booked.BookingRef, "")
	if err != nil {
		t.Fatal(err)
	}
	if rec.BookingRef != booked.BookingRef {
		t.Fatalf("cancellation traced as %s, want %s", rec.BookingRef, booked.BookingRef)
	}
	v := h.wait(rec)
	if v.Status != "completed" || v.Definition != "cancel-booking" {
		t.Fatalf("cancel saga %s %s: %s", v.Definition, v.Status, v.Reason)
	}
	if s := h.seats("show-1"); s.Held != 0 || s.Available != 100 {
		t.Fatalf("show-1 after cancel = %+v, want every seat back", s)
	}
	if _, err := h.c.Cancel(context.Background(), "BK-NOSUCH", ""); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("cancel of unknown booking: %v, want ErrNotFound", err)
	}
}

func TestOrchestratorRestartMidSaga(t *testing.T) {
	h := newHarness(t)
	// Everything but the notification service: sagas stop at their last step.
	h.run("user", "booking", "payment")
	stopOrch := h.run("orchestrator")
	rec := h.book("alice", "show-1", 2, "tok_ok")
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		v, err := h.c.Inspect(context.Background(), rec.SagaID)
		if err != nil {
			return false, err.Error()
		}
		return stepStatuses(v)["SendNotification"] == "running", "waiting for SendNotification to start"
	})
	stopOrch()
	// The saga is mid-flight with no orchestrator; a new one, and the
	// missing service, carry it on.
	h.run("notification")
	h.run("orchestrator")
	if v := h.wait(rec); v.Status != "completed" {
		t.Fatalf("after restart the saga is %s (%s)", v.Status, v.Reason)
	}
}

func TestMalformedMessagesGoToDeadLetters(t *testing.T) {
	h := newHarness(t)
	h.run()
	bad := []struct {
		topic string
		msg   *message.Message
	}{
		{events.TopicRequests, message.NewMessage("bad-1", []byte("{not json"))},
		{events.TopicReplies, message.NewMessage("bad-2", []byte(`{}`))},
		{events.CommandTopic(events.ServiceBooking), message.NewMessage("bad-3", []byte(`{"step":"x","attempt":1,"data":{}}`))},
	}
	// A booking request whose reference is not the one of its saga id.
	wrongRef, err := client.BookingRequest(client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", IdempotencyKey: "wrong-ref"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrongRef.ID, wrongRef.CorrelationID = "bad-4", "BK-AAAAAAAA"
	wrongRef.Payload = []byte(strings.Replace(string(wrongRef.Payload), `"booking_ref":"`+events.BookingRefFor(wrongRef.SagaID)+`"`, `"booking_ref":"BK-AAAAAAAA"`, 1))
	bad = append(bad, struct {
		topic string
		msg   *message.Message
	}{events.TopicRequests, bus.ToMessage(wrongRef)})
	bad[0].msg.Metadata.Set(events.HeaderType, string(events.StartSaga))
	bad[0].msg.Metadata.Set(events.HeaderVersion, "1")
	bad[1].msg.Metadata.Set(events.HeaderType, "NoSuchType")
	bad[1].msg.Metadata.Set(events.HeaderVersion, "1")
	bad[1].msg.Metadata.Set(events.HeaderSagaID, "s-1")
	bad[2].msg.Metadata.Set(events.HeaderType, string(events.ReserveSeats))
	bad[2].msg.Metadata.Set(events.HeaderVersion, "1") // no saga id
	for _, b := range bad {
		h.publish(b.topic, b.msg)
	}
	// The consumers carry on: a booking after the poison still completes.
	if v := h.wait(h.book("alice", "show-1", 1, "tok_ok")); v.Status != "completed" {
		t.Fatalf("booking after poison: %s", v.Status)
	}
	reasons := map[string]string{}
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		reasons = map[string]string{}
		err := bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(events.TopicDLQ), func(r bus.Record) error {
			reasons[r.Headers["id"]] = r.Headers["reason_poisoned"] + " @ " + r.Headers["kafka_topic"]
			return nil
		})
		return err == nil && len(reasons) == len(bad), fmt.Sprintf("dead letters %v", reasons)
	})
	for id, want := range map[string]string{"bad-1": "not valid JSON", "bad-2": "unknown type", "bad-3": "saga_id", "bad-4": "is not the one of saga"} {
		if !contains(reasons[id], want) {
			t.Errorf("dead letter %s reason %q, want it to mention %q", id, reasons[id], want)
		}
	}
}

func TestEmbeddedBrokerRestartKeepsSagas(t *testing.T) {
	if _, real := bustestEnv(); real {
		t.Skip("restarts the embedded broker; nothing to restart on an external cluster")
	}
	dir := t.TempDir()
	emb := bustest.StartEmbedded(t, dir)
	cfg := bus.Config{Brokers: emb.Addrs(), Namespace: bustest.Namespace()}
	h := &harness{t: t, cfg: cfg}
	ctx := context.Background()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	stop := h.run()
	done := h.wait(h.book("alice", "show-1", 2, "tok_ok"))
	stop()
	_ = c.Close()
	emb.Close()

	emb2 := bustest.StartEmbedded(t, dir)
	h.cfg.Brokers = emb2.Addrs()
	if h.c, err = client.New(ctx, h.cfg, client.WithCatalog(demo.Catalog())); err != nil {
		t.Fatal(err)
	}
	defer h.c.Close()
	h.run()
	v, err := h.c.Inspect(ctx, done.BookingRef)
	if err != nil || v.Status != "completed" {
		t.Fatalf("after broker restart: %v %v", v.Status, err)
	}
	if v := h.wait(h.book("bob", "show-1", 1, "tok_ok")); v.Status != "completed" {
		t.Fatalf("new booking after restart: %s", v.Status)
	}
	if s := h.seats("show-1"); s.Held != 3 {
		t.Fatalf("show-1 holds %d seats after restart, want 3", s.Held)
	}
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// TestScaleOut runs two copies of every part, each copy a member of its
// part's consumer group: they share the partitions, and when one copy
// stops while sagas are in flight the other takes them over from the log
// and finishes them.
func TestScaleOut(t *testing.T) {
	h := newHarness(t)
	stopA := h.run()
	batch := func(n int) []client.Receipt {
		var recs []client.Receipt
		for i := range n {
			recs = append(recs, h.book([]string{"alice", "bob"}[i%2], "show-1", 1, []string{"tok_ok", "tok_declined"}[i%4/3]))
		}
		return recs
	}
	finish := func(recs []client.Receipt) (completed int) {
		for _, r := range recs {
			v := h.wait(r)
			if v.Status == "completed" {
				completed++
			} else if v.Status != "compensated" || !strings.Contains(v.Reason, "card declined") {
				t.Errorf("saga %s ended %s (%s)", r.SagaID, v.Status, v.Reason)
			}
		}
		return completed
	}
	completed := finish(batch(8)) // copy A alone
	h.run()                       // copy B joins: the partitions are shared
	inFlight := batch(12)
	stopA() // A leaves with sagas in flight
	completed += finish(inFlight)
	completed += finish(batch(8)) // B alone
	if want := 6 + 9 + 6; completed != want {
		t.Errorf("%d bookings completed, want %d", completed, want)
	}
	if s := h.seats("show-1"); s.Held != completed {
		t.Errorf("show-1 holds %d seats for %d completed one-seat bookings", s.Held, completed)
	}
}

// publish writes msgs to topic signed by the part that may write it (the
// client for requests, a service for replies and its events, the
// orchestrator for commands and the saga log), as that part would.
func (h *harness) publish(topic string, msgs ...*message.Message) {
	h.t.Helper()
	writer := events.PrincipalOrchestrator
	switch {
	case topic == events.TopicRequests:
		writer = events.PrincipalClient
	case topic == events.TopicReplies:
		writer = events.ServicePayment
	case strings.HasSuffix(topic, ".events") && topic != events.TopicSagaLog:
		writer = strings.TrimSuffix(topic, ".events")
	}
	cfg := h.cfg
	cfg.Signer = h.keys[writer]
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		h.t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(h.cfg.Topic(topic), msgs...); err != nil {
		h.t.Fatal(err)
	}
}
