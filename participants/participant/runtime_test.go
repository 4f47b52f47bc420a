package participant_test

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participant"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
)

// counting is the demo processor, counting the charges it is asked for.
type counting struct {
	demo.Processor
	charges *atomic.Int32
}

func (c counting) Charge(token string) (bool, string, bool) {
	c.charges.Add(1)
	return c.Processor.Charge(token)
}

// start runs the payment service's runtime until the returned stop is
// called; stop waits for it to end.
func start(t *testing.T, cfg bus.Config, charges *atomic.Int32) (stop func()) {
	t.Helper()
	rt, err := participant.New(participant.Config{Bus: cfg, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		New: func() service.Service { return payment.New(counting{charges: charges}) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runtime: %v", err)
		}
	}
}

// replies reads every reply in saga.replies.
func replies(t *testing.T, cfg bus.Config) []events.StepReplyV1 {
	t.Helper()
	var out []events.StepReplyV1
	err := bus.ReadAll(context.Background(), cfg, cfg.Topic(events.TopicReplies), func(r bus.Record) error {
		e, err := bus.CheckRecord(r)
		if err != nil {
			return err
		}
		_, p, err := events.CheckAs[events.StepReplyV1](e)
		out = append(out, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// logged counts the events of payment.events per command id.
func logged(t *testing.T, cfg bus.Config) map[string]int {
	t.Helper()
	n := map[string]int{}
	err := bus.ReadAll(context.Background(), cfg, cfg.Topic(events.DomainTopic(events.ServicePayment)), func(r bus.Record) error {
		e, err := bus.CheckRecord(r)
		if err != nil {
			return err
		}
		h, err := service.HandledOf(e)
		n[h.CommandID]++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRepeatedCommandAcrossRestart sends one charge three times, the last
// after a restart of the runtime that rebuilds the service from its log:
// every time the same reply, one event in the log, one charge asked of
// the processor. A later attempt (a new command id) finds the charge in
// the refolded state and charges nothing more.
func TestRepeatedCommandAcrossRestart(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := context.Background()
	err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: events.TopicReplies}, {Name: events.TopicDLQ},
		{Name: events.CommandTopic(events.ServicePayment)}, {Name: events.DomainTopic(events.ServicePayment)}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	data := events.BookingData{BookingRef: "BK-1", UserID: "alice", AmountCents: 5000, PaymentToken: demo.TokenOK}
	charge := func(attempt int) events.Envelope {
		cmd, _ := participanttest.Command(t, participanttest.Cmd{Type: events.ChargePayment, Saga: "s1", Attempt: attempt,
			Data: data, Actor: "alice", Correlation: data.BookingRef, Key: data.BookingRef})
		return cmd
	}
	send := func(cmd events.Envelope) {
		t.Helper()
		if err := pub.Publish(cfg.Topic(events.CommandTopic(events.ServicePayment)), bus.ToMessage(cmd)); err != nil {
			t.Fatal(err)
		}
	}
	waitReplies := func(n int) []events.StepReplyV1 {
		t.Helper()
		var got []events.StepReplyV1
		bustest.Eventually(t, 30*time.Second, func() (bool, string) {
			got = replies(t, cfg)
			return len(got) >= n, fmt.Sprintf("%d replies, want %d", len(got), n)
		})
		return got
	}

	var charges atomic.Int32
	stop := start(t, cfg, &charges)
	first := charge(1)
	send(first)
	waitReplies(1)
	send(first)
	waitReplies(2)
	stop()

	stop = start(t, cfg, &charges)
	defer stop()
	send(first)
	send(charge(2))
	got := waitReplies(4)

	for i, r := range got[:3] {
		if r.CommandID != first.ID || !reflect.DeepEqual(r, got[0]) {
			t.Errorf("reply %d = %+v, want the first %+v", i, r, got[0])
		}
	}
	if got[0].Outcome != events.OutcomeSucceeded {
		t.Fatalf("charge %s %q", got[0].Outcome, got[0].Reason)
	}
	if retry := got[3]; retry.Outcome != events.OutcomeSucceeded || !reflect.DeepEqual(retry.Data, got[0].Data) {
		t.Errorf("a new attempt got %+v, want the original charge %s", retry, got[0].Data)
	}
	if n := charges.Load(); n != 1 {
		t.Errorf("the processor was asked to charge %d times, want once", n)
	}
	if n := logged(t, cfg); n[first.ID] != 1 || len(n) != 2 {
		t.Errorf("events per command id %v, want one for each of the two", n)
	}
}
