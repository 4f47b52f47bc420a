package system_test

import (
	"context"
	"errors"
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
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/system"
)

// withholding fails a part's writes to one topic while hold is set.
type withholding struct {
	message.Publisher
	topic string
	hold  *atomic.Bool
}

func (w withholding) Publish(topic string, msgs ...*message.Message) error {
	if topic == w.topic && w.hold.Load() {
		return errors.New("partition unavailable")
	}
	return w.Publisher.Publish(topic, msgs...)
}

// runWithholding starts parts whose writes to topic fail while hold is set.
func (h *harness) runWithholding(topic string, hold *atomic.Bool, parts ...string) (stop func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.FatalLevel)
	decorate := func(pub message.Publisher) (message.Publisher, error) {
		return withholding{Publisher: pub, topic: h.cfg.Topic(topic), hold: hold}, nil
	}
	go func() {
		done <- system.Run(ctx, system.Config{Bus: h.cfg, Log: log, Parts: parts, Timings: testTimings, Keys: h.keys, Decorate: decorate, OneRoundReplies: true})
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

// TestRepliesAheadOfTheirEvents runs the booking service on a broker that
// takes its replies but not its domain events, so the orchestrator acts
// on reservations the booking log does not hold, then stops the service
// and starts it on a healthy broker. A booking paid for completes, one
// whose card is declined releases its seats, each reservation is in the
// booking log once, and the logs agree.
func TestRepliesAheadOfTheirEvents(t *testing.T) {
	h := newHarness(t)
	h.run("user", "payment", "notification", "orchestrator")
	var hold atomic.Bool
	bookingLog := events.DomainTopic(events.ServiceBooking)
	inspect := func(rec client.Receipt, step, status string) func() (bool, string) {
		return func() (bool, string) {
			v, err := h.c.Inspect(context.Background(), rec.SagaID)
			if err != nil {
				return false, err.Error()
			}
			got := stepStatuses(v)[step]
			return got == status, step + " is " + got + ", want " + status
		}
	}
	for _, tt := range []struct {
		token, step, status, want string
		held                      int
	}{
		{"tok_ok", "ChargePayment", "succeeded", "completed", 0},
		{"tok_declined", "ChargePayment", "failed", "compensated", 2},
	} {
		hold.Store(true)
		stop := h.runWithholding(bookingLog, &hold, "booking")
		rec := h.book("alice", "show-1", 2, tt.token)
		// The orchestrator got the reservation's reply and went on...
		bustest.Eventually(t, sagaTimeout, inspect(rec, tt.step, tt.status))
		// ... while the booking log holds only the earlier booking.
		if s := h.seats("show-1"); s.Held != tt.held {
			t.Fatalf("%s: show-1 inventory %+v before the restart", tt.token, s)
		}
		stop()
		hold.Store(false)
		stop = h.run("booking")
		if v := h.wait(rec); v.Status != tt.want {
			t.Fatalf("%s: the saga is %s (%s), want %s", tt.token, v.Status, v.Reason, tt.want)
		}
		stop()
	}
	if s := h.seats("show-1"); s.Held != 2 || s.Confirmed != 2 || s.Available != 98 {
		t.Errorf("show-1 inventory = %+v, want 2 held and confirmed, 98 available", s)
	}
	perCommand := map[string]int{}
	err := bus.ReadAll(context.Background(), h.cfg, h.cfg.Topic(bookingLog), func(r bus.Record) error {
		e, err := bus.CheckRecord(r)
		if err != nil {
			return err
		}
		hd, err := service.HandledOf(e)
		perCommand[hd.CommandID]++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, n := range perCommand {
		if n != 1 {
			t.Errorf("command %s has %d events in the booking log, want one", id, n)
		}
	}
	// A reservation, a confirmation (perhaps several attempts), a reservation, a release.
	if len(perCommand) < 4 {
		t.Errorf("the booking log answers %d commands, want at least 4", len(perCommand))
	}
	rep, err := h.c.Reconcile(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Fatalf("reconcile found %d inconsistencies: %+v", len(rep.Findings), rep.Findings)
	}
}
