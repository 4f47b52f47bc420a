package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
)

// received collects the event types an endpoint got, per booking.
type received struct {
	mu  sync.Mutex
	got map[string][]string
}

func (rc *received) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	_ = json.Unmarshal(body, &ev)
	rc.mu.Lock()
	rc.got[ev.Data["booking_ref"]] = append(rc.got[ev.Data["booking_ref"]], ev.Type)
	rc.mu.Unlock()
}

func (rc *received) of(ref string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got[ref]...)
}

// A restarted sender reads the saga log from its resume point, not from
// the oldest record, and still names the end of a saga that started
// before the restart by the definition the resume point kept; nothing is
// delivered twice and nothing is lost.
func TestSenderResumesWhereItWas(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := context.Background()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: events.TopicSagaLog}}); err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	seq := 0
	write := func(sagaID, ref string, typ events.Type, payload any) {
		t.Helper()
		seq++
		e := events.MustNew(events.SagaEventID(sagaID, seq), typ, payload,
			events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: "orchestrator"}, sagaID, time.Now())
		if err := pub.Publish(cfg.Topic(events.TopicSagaLog), bus.ToMessage(e)); err != nil {
			t.Fatal(err)
		}
	}
	start := func(sagaID, ref, def string) {
		write(sagaID, ref, events.SagaStarted, events.SagaStartedV1{Definition: def, IdempotencyKey: sagaID, BookingRef: ref, Data: json.RawMessage(`{}`)})
	}

	rc := &received{got: map[string][]string{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	store, err := Open(filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := store.Subscribe(ctx, srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	run := func() (*Sender, func()) {
		s, err := NewSender(Config{Bus: cfg, Store: store, Log: zerolog.New(zerolog.NewTestWriter(t)), Poll: 10 * time.Millisecond,
			Backoff: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		return s, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sender: %v", err)
			}
		}
	}

	// Before the restart: a booking that completes, one that starts, a
	// booking that fails (and may be resumed), and filler.
	const done1, open1, failed1 = "11111111-1111-5111-8111-111111111111", "22222222-2222-5222-8222-222222222222", "33333333-3333-5333-8333-333333333333"
	start(done1, "BK-DONE", "book-ticket")
	write(done1, "BK-DONE", events.SagaCompleted, struct{}{})
	start(open1, "BK-OPEN", "book-ticket")
	start(failed1, "BK-FAIL", "book-ticket")
	write(failed1, "BK-FAIL", events.SagaFailed, events.SagaEndedV1{Reason: "refund failed"})
	for range 40 {
		write(open1, "BK-OPEN", events.StepStarted, events.StepStartedV1{StepV1: events.StepV1{Step: "VerifyUser", Attempt: 1}, CommandID: "c", Command: "VerifyUser", Deadline: time.Now().Add(time.Minute)})
	}
	before := int64(seq)

	first, stop := run()
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		return len(rc.of("BK-DONE")) == 1 && len(rc.of("BK-FAIL")) == 1 && first.records.Load() == before,
			"deliveries and records read before the restart"
	})
	stop()

	// After it: the open booking ends, the failed one is resumed and
	// compensates.
	write(open1, "BK-OPEN", events.SagaCompleted, struct{}{})
	write(failed1, "BK-FAIL", events.SagaResumed, events.SagaEndedV1{Reason: "operator"})
	write(failed1, "BK-FAIL", events.SagaCompensated, events.SagaEndedV1{Reason: "refunded"})

	second, stop := run()
	defer stop()
	bustest.Eventually(t, 30*time.Second, func() (bool, string) {
		return len(rc.of("BK-OPEN")) == 1 && len(rc.of("BK-FAIL")) == 2, "deliveries after the restart"
	})
	if n := second.records.Load(); n != 3 {
		t.Errorf("the restarted sender read %d records, want the 3 written after the restart (the log holds %d)", n, seq)
	}
	if got := rc.of("BK-OPEN"); got[0] != BookingCompleted {
		t.Errorf("the booking that started before the restart was delivered as %v, want %s", got, BookingCompleted)
	}
	if got := rc.of("BK-FAIL"); got[0] != BookingFailed || got[1] != BookingCompensated {
		t.Errorf("the resumed booking was delivered as %v, want %s then %s", got, BookingFailed, BookingCompensated)
	}
	if got := rc.of("BK-DONE"); len(got) != 1 {
		t.Errorf("the booking completed before the restart was delivered %d times", len(got))
	}
}
