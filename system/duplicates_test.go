package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

// unreliable is a publisher that delivers every command and reply twice:
// once at once and once after a random delay, so that copies arrive late
// and out of order. Logs (saga.events, <svc>.events) are left alone: they
// are appended in order by design.
type unreliable struct {
	message.Publisher
	mu   sync.Mutex
	rng  *rand.Rand
	wg   sync.WaitGroup
	sent int
}

func (u *unreliable) Publish(topic string, msgs ...*message.Message) error {
	if err := u.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	if !strings.HasSuffix(topic, ".commands") && !strings.HasSuffix(topic, "saga.replies") {
		return nil
	}
	for _, m := range msgs {
		u.mu.Lock()
		delay := time.Duration(u.rng.IntN(300)) * time.Millisecond
		u.sent++
		u.mu.Unlock()
		dup := m.Copy()
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			// The duplicate arrives late on purpose.
			time.Sleep(delay)
			_ = u.Publisher.Publish(topic, dup)
		}()
	}
	return nil
}

func (u *unreliable) Close() error {
	u.wg.Wait()
	return u.Publisher.Close()
}

// TestDuplicatedAndReorderedMessages delivers every command and reply twice
// and out of order: each booking still holds its seats once, is charged
// once, refunded at most once, and the user is told once.
func TestDuplicatedAndReorderedMessages(t *testing.T) {
	h := newHarness(t)
	var seed atomic.Uint64 // the parts start concurrently
	decorate := func(pub message.Publisher) (message.Publisher, error) {
		return &unreliable{Publisher: pub, rng: rand.New(rand.NewPCG(seed.Add(1), 7))}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(testLogLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: h.cfg, Keys: h.keys, Log: log, Timings: testTimings, Decorate: decorate})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	}()

	mix := []client.BookRequest{
		{UserID: "alice", ShowID: "show-1", Seats: 2, PaymentToken: "tok_ok"},
		{UserID: "bob", ShowID: "show-1", Seats: 1, PaymentToken: "tok_declined"},
		{UserID: "carol", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok"},
		{UserID: "alice", ShowID: "show-cancelled", Seats: 3, PaymentToken: "tok_ok"},
		{UserID: "mallory", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok"},
		{UserID: "bob", ShowID: "show-small", Seats: 1, PaymentToken: "tok_ok"},
	}
	var recs []client.Receipt
	for i := range 24 {
		rec, err := h.c.Book(context.Background(), mix[i%len(mix)])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	completedSeats, completed := 0, 0
	for i, r := range recs {
		v := h.wait(r)
		if v.Status == "completed" {
			completed++
			completedSeats += mix[i%len(mix)].Seats
		}
		if v.Status == "failed" || v.Status == "running" {
			t.Errorf("saga %s ended %s (%s)", r.SagaID, v.Status, v.Reason)
		}
	}

	rep, err := h.c.Reconcile(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Fatalf("reconcile found %d inconsistencies: %+v", len(rep.Findings), rep.Findings)
	}
	if held := rep.Summary.SeatsHeld["show-1"] + rep.Summary.SeatsHeld["show-small"]; held != completedSeats {
		t.Errorf("seats held %d, want %d (the completed bookings')", held, completedSeats)
	}
	if rep.Summary.NotificationsDelivered != completed {
		t.Errorf("%d notifications delivered for %d completed bookings", rep.Summary.NotificationsDelivered, completed)
	}
	// Every command was applied once: each service's log holds one event
	// per command id, however often the command arrived.
	for _, svc := range events.Services() {
		seen := map[string]int{}
		err := bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(events.DomainTopic(svc)), func(r bus.Record) error {
			var handled events.Handled
			if err := json.Unmarshal(r.Value, &handled); err != nil {
				return err
			}
			seen[handled.CommandID]++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s applied command %s %d times", svc, id, n)
			}
		}
	}
	// The harness did duplicate: each command topic comes to hold every id
	// twice (the delayed copies may still be on their way).
	for _, svc := range events.Services() {
		bustest.Eventually(t, 10*time.Second, func() (bool, string) {
			copies := map[string]int{}
			err := bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(events.CommandTopic(svc)), func(r bus.Record) error {
				copies[r.Headers[events.HeaderID]]++
				return nil
			})
			if err != nil {
				return false, err.Error()
			}
			for id, n := range copies {
				if n < 2 {
					return false, fmt.Sprintf("%s command %s delivered %d times", svc, id, n)
				}
			}
			return len(copies) > 0, fmt.Sprintf("%s: %d commands", svc, len(copies))
		})
	}
	charges := map[string]string{}
	err = bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(events.DomainTopic(events.ServicePayment)), func(r bus.Record) error {
		if events.Type(r.Headers[events.HeaderType]) != events.PaymentCharged {
			return nil
		}
		var p events.PaymentV1
		if err := json.Unmarshal(r.Value, &p); err != nil {
			return err
		}
		if prev, ok := charges[p.BookingRef]; ok && prev != p.ChargeID {
			return fmt.Errorf("booking %s charged as %s and %s", p.BookingRef, prev, p.ChargeID)
		}
		charges[p.BookingRef] = p.ChargeID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
