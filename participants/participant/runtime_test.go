package participant_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/participants/participant"
	"github.com/sagaflow/saga/participants/participanttest"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/participants/user"
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

// start runs the runtime of the service newSvc makes until the returned
// stop is called; stop waits for it to end.
func start(t *testing.T, cfg bus.Config, newSvc func() service.Service) (stop func()) {
	t.Helper()
	rt, err := participant.New(participant.Config{Bus: cfg, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		New: newSvc})
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

// logged reads the events of svc's own log.
func logged(t *testing.T, cfg bus.Config, svc string) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	err := bus.ReadAll(context.Background(), cfg, cfg.Topic(events.DomainTopic(svc)), func(r bus.Record) error {
		e, err := bus.CheckRecord(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// perCommand counts log's events per command id.
func perCommand(t *testing.T, log []events.Envelope) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, e := range log {
		h, err := service.HandledOf(e)
		if err != nil {
			t.Fatal(err)
		}
		n[h.CommandID]++
	}
	return n
}

// conversation is a broker with the topics svc needs, and a publisher.
type conversation struct {
	t   *testing.T
	cfg bus.Config
	svc string
	pub *bus.BatchPublisher
}

func converse(t *testing.T, svc string) *conversation {
	t.Helper()
	cfg := bustest.Start(t)
	err := bus.Provision(context.Background(), cfg, []bus.TopicSpec{{Name: events.TopicReplies}, {Name: events.TopicDLQ},
		{Name: events.CommandTopic(svc)}, {Name: events.DomainTopic(svc)}})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pub.Close() })
	return &conversation{t: t, cfg: cfg, svc: svc, pub: pub}
}

// send publishes e to topic (the service's command topic when empty).
func (c *conversation) send(e events.Envelope, topic string) {
	c.t.Helper()
	if topic == "" {
		topic = events.CommandTopic(c.svc)
	}
	if err := c.pub.Publish(c.cfg.Topic(topic), bus.ToMessage(e)); err != nil {
		c.t.Fatal(err)
	}
}

// replies waits for n replies and returns them, oldest first.
func (c *conversation) replies(n int) []events.StepReplyV1 {
	c.t.Helper()
	var got []events.StepReplyV1
	bustest.Eventually(c.t, 30*time.Second, func() (bool, string) {
		got = replies(c.t, c.cfg)
		return len(got) >= n, fmt.Sprintf("%d replies, want %d", len(got), n)
	})
	return got
}

// TestRepeatedCommandAcrossRestart sends one charge three times, the last
// after a restart of the runtime that rebuilds the service from its log:
// every time the same reply, one event in the log, one charge asked of
// the processor. A later attempt (a new command id) finds the charge in
// the refolded state and charges nothing more.
func TestRepeatedCommandAcrossRestart(t *testing.T) {
	c := converse(t, events.ServicePayment)
	var charges atomic.Int32
	newSvc := func() service.Service { return payment.New(counting{charges: &charges}) }
	data := events.BookingData{BookingRef: "BK-1", UserID: "alice", AmountCents: 5000, PaymentToken: demo.TokenOK}
	charge := func(attempt int) events.Envelope {
		cmd, _ := participanttest.Command(t, participanttest.Cmd{Type: events.ChargePayment, Saga: "s1", Attempt: attempt,
			Data: data, Actor: "alice", Correlation: data.BookingRef, Key: data.BookingRef})
		return cmd
	}

	stop := start(t, c.cfg, newSvc)
	first := charge(1)
	c.send(first, "")
	c.replies(1)
	c.send(first, "")
	c.replies(2)
	stop()

	stop = start(t, c.cfg, newSvc)
	defer stop()
	c.send(first, "")
	c.send(charge(2), "")
	got := c.replies(4)

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
	if n := perCommand(t, logged(t, c.cfg, events.ServicePayment)); n[first.ID] != 1 || len(n) != 2 {
		t.Errorf("events per command id %v, want one for each of the two", n)
	}
}

// TestRetriedAppendFoldsOnce writes an event of the user log a second
// time after a later one (a retried append): the runtime rebuilding the
// service after a restart folds the first copy alone, so bob, blocked and
// then unblocked, stays unblocked.
func TestRetriedAppendFoldsOnce(t *testing.T) {
	c := converse(t, events.ServiceUser)
	newSvc := func() service.Service { return user.New(demo.Catalog()) }
	command := func(typ events.Type, saga string) events.Envelope {
		cmd, _ := participanttest.Command(t, participanttest.Cmd{Type: typ, Saga: saga, Data: events.UserData{UserID: "bob"},
			Actor: "operator", Correlation: "bob", Key: "bob"})
		return cmd
	}

	stop := start(t, c.cfg, newSvc)
	c.send(command(events.BlockUser, "s1"), "")
	c.send(command(events.UnblockUser, "s2"), "")
	c.replies(2)
	stop()
	log := logged(t, c.cfg, events.ServiceUser)
	if len(log) != 2 || log[0].Type != events.UserBlocked {
		t.Fatalf("user log %+v, want UserBlocked then UserUnblocked", log)
	}
	c.send(log[0], events.DomainTopic(events.ServiceUser))

	stop = start(t, c.cfg, newSvc)
	defer stop()
	c.send(command(events.VerifyUser, "s3"), "")
	if got := c.replies(3)[2]; got.Outcome != events.OutcomeSucceeded {
		t.Fatalf("bob after the restart: %s %q, want verified", got.Outcome, got.Reason)
	}
}

// withholding is a publisher whose writes to one topic fail while hold is
// set: a broker that takes a batch's replies and not its domain events.
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

// TestReplySentBeforeItsEventSurvivesACrash writes a charge's reply while
// its domain event cannot be written, and stops the runtime then: the
// event and the reply go in one round, so the reply is out and the log is
// empty. The runtime started again is given the command again, decides
// the same charge, writes its event once and sends the same reply; a
// later attempt finds the charge in the state.
func TestReplySentBeforeItsEventSurvivesACrash(t *testing.T) {
	c := converse(t, events.ServicePayment)
	var charges atomic.Int32
	newSvc := func() service.Service { return payment.New(counting{charges: &charges}) }
	data := events.BookingData{BookingRef: "BK-1", UserID: "alice", AmountCents: 5000, PaymentToken: demo.TokenOK}
	charge := func(attempt int) events.Envelope {
		cmd, _ := participanttest.Command(t, participanttest.Cmd{Type: events.ChargePayment, Saga: "s1", Attempt: attempt,
			Data: data, Actor: "alice", Correlation: data.BookingRef, Key: data.BookingRef})
		return cmd
	}
	var hold atomic.Bool
	hold.Store(true)
	rt, err := participant.New(participant.Config{Bus: c.cfg, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel),
		New: newSvc, OneRound: true, Decorate: func(pub message.Publisher) (message.Publisher, error) {
			return withholding{Publisher: pub, topic: c.cfg.Topic(events.DomainTopic(events.ServicePayment)), hold: &hold}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	first := charge(1)
	c.send(first, "")
	before := c.replies(1)[0]
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runtime: %v", err)
	}
	if log := logged(t, c.cfg, events.ServicePayment); len(log) != 0 {
		t.Fatalf("the log holds %d events, want none written", len(log))
	}

	stop := start(t, c.cfg, newSvc)
	defer stop()
	got := c.replies(2)
	if !reflect.DeepEqual(got[1], before) || before.Outcome != events.OutcomeSucceeded {
		t.Fatalf("reply after the restart %+v, want the first %+v", got[1], before)
	}
	c.send(charge(2), "")
	if retry := c.replies(3)[2]; retry.Outcome != events.OutcomeSucceeded || !reflect.DeepEqual(retry.Data, before.Data) {
		t.Errorf("a new attempt got %+v, want the original charge %s", retry, before.Data)
	}
	if n := perCommand(t, logged(t, c.cfg, events.ServicePayment)); n[first.ID] != 1 || len(n) != 2 {
		t.Errorf("events per command id %v, want one for each of the two", n)
	}
}
