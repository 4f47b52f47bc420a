package system_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// forge writes e to topic as a plain Kafka client would, signed by k (nil:
// unsigned), and returns its id.
func (h *harness) forge(topic string, e events.Envelope, k *sign.Key) string {
	h.t.Helper()
	hdr := map[string]string{events.HeaderID: e.ID}
	events.PutHeaders(hdr, e)
	delete(hdr, events.MetaKey)
	if k != nil {
		sigs, err := h.cfg.Trust.Sign(k, sign.Record{Topic: h.cfg.Topic(topic), Key: e.Key, Headers: hdr, Payload: e.Payload}, events.ReadersOf(topic), time.Now())
		if err != nil {
			h.t.Fatal(err)
		}
		for n, v := range sigs {
			hdr[n] = v
		}
	}
	h.send(topic, e.Key, e.Payload, hdr)
	return e.ID
}

func (h *harness) send(topic, key string, payload []byte, hdr map[string]string) {
	h.t.Helper()
	var hs []bus.Header
	for k, v := range hdr {
		hs = append(hs, bus.Header{Key: k, Value: v})
	}
	if _, _, err := bus.Send(h.cfg, h.cfg.Topic(topic), key, payload, hs); err != nil {
		h.t.Fatal(err)
	}
}

// refusedAs waits until every id in want is a dead letter whose reason
// starts with its code.
func (h *harness) refusedAs(want map[string]string) {
	h.t.Helper()
	bustest.Eventually(h.t, sagaTimeout, func() (bool, string) {
		letters, err := h.c.DeadLetters(context.Background())
		if err != nil {
			return false, err.Error()
		}
		got := map[string]string{}
		for _, l := range letters {
			got[l.ID] = l.Reason
		}
		for id, code := range want {
			if !strings.HasPrefix(got[id], code+": ") {
				return false, "letter " + id + ": reason " + got[id] + ", want " + code
			}
		}
		return true, ""
	})
}

func reply(t *testing.T, sagaID, ref, cmdID string, cmd events.Type, outcome string) events.Envelope {
	t.Helper()
	e, err := events.New(events.DerivedID(cmdID, "forged-"+string(cmd)+outcome), events.StepReply,
		events.StepReplyV1{CommandID: cmdID, Command: cmd, Outcome: outcome, Data: json.RawMessage(`{"charge_id":"ch-forged","amount_cents":1}`)},
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: "mallory"}, sagaID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestForgedRecordsChangeNothing writes, as a plain Kafka client on the
// same network, the records an attacker would: replies that complete a
// declined booking, refunds and charges the orchestrator never sent,
// requests, and a genuine command with its amount changed. Each is
// dead-lettered with the reason, and nothing happens.
func TestForgedRecordsChangeNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	// Without the payment service bob's charge waits for its reply.
	stop := h.run("orchestrator", "user", "booking", "notification")
	defer func() { stop() }()
	bob := h.book("bob", "show-1", 1, "tok_declined")
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		v, err := h.c.Inspect(ctx, bob.SagaID)
		return err == nil && stepStatuses(v)["ChargePayment"] == "running", "waiting for the charge to be sent"
	})
	charge := events.CommandID(bob.SagaID, "ChargePayment", false, 1)
	evil, _ := sign.NewKey(h.keys[events.ServicePayment].ID, events.ServicePayment) // the payment key's id, another key
	stranger, _ := sign.NewKey("payment-stranger", events.ServicePayment)
	want := map[string]string{}
	succeeded := func(cmdID string, cmd events.Type) events.Envelope {
		return reply(t, bob.SagaID, bob.BookingRef, cmdID, cmd, events.OutcomeSucceeded)
	}
	e := succeeded(charge, events.ChargePayment)
	want[h.forge(events.TopicReplies, e, nil)] = events.RefusedUnsigned
	e.ID = events.DerivedID(e.ID, "2")
	want[h.forge(events.TopicReplies, e, h.keys[events.ServiceNotification])] = events.RefusedSignerNotAllowed
	e.ID = events.DerivedID(e.ID, "3")
	want[h.forge(events.TopicReplies, e, h.keys[events.PrincipalClient])] = events.RefusedSignerNotAllowed
	e.ID = events.DerivedID(e.ID, "4")
	want[h.forge(events.TopicReplies, e, evil)] = events.RefusedBadSignature
	e.ID = events.DerivedID(e.ID, "5")
	want[h.forge(events.TopicReplies, e, stranger)] = events.RefusedBadSignature
	// Signed by the payment service itself, but answering nothing sent.
	want[h.forge(events.TopicReplies, succeeded(events.CommandID(bob.SagaID, "ChargePayment", false, 9), events.ChargePayment), h.keys[events.ServicePayment])] = events.RefusedUnknownCommand
	want[h.forge(events.TopicReplies, succeeded(charge, events.RefundPayment), h.keys[events.ServicePayment])] = events.RefusedUnknownCommand
	h.refusedAs(want)
	if v, _ := h.c.Inspect(ctx, bob.SagaID); v.Status != "running" || stepStatuses(v)["ChargePayment"] != "running" {
		t.Fatalf("after the forged replies bob's saga is %s, steps %v; want it waiting for its charge", v.Status, stepStatuses(v))
	}

	// The payment service answers the charge: declined, as the card is.
	stopPayment := h.run(events.ServicePayment)
	defer stopPayment()
	if v := h.wait(bob); v.Status != "compensated" {
		t.Fatalf("bob's booking with a declined card ended %s: %s", v.Status, v.Reason)
	}

	// Commands the orchestrator never sent, for alice's completed booking
	// and for a booking that does not exist.
	alice := h.wait(h.book("alice", "show-1", 2, "tok_ok"))
	if alice.Status != "completed" {
		t.Fatalf("alice's booking ended %s: %s", alice.Status, alice.Reason)
	}
	data, _ := json.Marshal(events.BookingData{BookingRef: alice.BookingRef, UserID: "alice", ShowID: "show-1", Seats: 2})
	refund := events.MustNew("forged-refund", events.RefundPayment, events.CommandV1{Step: "ChargePayment", Attempt: 1, Compensation: true, Data: data},
		events.Trace{SagaID: alice.SagaID, CorrelationID: alice.BookingRef, Actor: "mallory"}, alice.BookingRef, time.Now())
	want = map[string]string{h.forge(events.CommandTopic(events.ServicePayment), refund, nil): events.RefusedUnsigned}
	refund.ID = "forged-refund-2"
	want[h.forge(events.CommandTopic(events.ServicePayment), refund, h.keys[events.PrincipalClient])] = events.RefusedSignerNotAllowed
	refund.ID = "forged-refund-3"
	want[h.forge(events.CommandTopic(events.ServicePayment), refund, h.keys[events.ServiceBooking])] = events.RefusedSignerNotAllowed
	big, _ := json.Marshal(events.BookingData{BookingRef: "BK-FORGED", UserID: "bob", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", AmountCents: 99_999_900})
	charge2 := events.MustNew("forged-charge", events.ChargePayment, events.CommandV1{Step: "ChargePayment", Attempt: 1, Data: big},
		events.Trace{SagaID: "no-such-saga", CorrelationID: "BK-FORGED", Actor: "mallory"}, "BK-FORGED", time.Now())
	want[h.forge(events.CommandTopic(events.ServicePayment), charge2, nil)] = events.RefusedUnsigned
	// A request no client signed.
	req, err := client.BookingRequest(client.BookRequest{UserID: "bob", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", IdempotencyKey: "forged-request"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want[h.forge(events.TopicRequests, req, nil)] = events.RefusedUnsigned
	req.ID = "forged-request-2"
	want[h.forge(events.TopicRequests, req, h.keys[events.ServicePayment])] = events.RefusedSignerNotAllowed

	// A saga the orchestrator never started, written to its log.
	ghost := events.SagaIDFor("forged-saga")
	started := events.MustNew(events.SagaEventID(ghost, 1), events.SagaStarted, events.SagaStartedV1{Definition: "book-ticket",
		IdempotencyKey: "forged-saga", BookingRef: events.BookingRefFor(ghost), Data: json.RawMessage(`{"user_id":"mallory"}`)},
		events.Trace{SagaID: ghost, CorrelationID: events.BookingRefFor(ghost), Actor: "mallory"}, ghost, time.Now())
	h.forge(events.TopicSagaLog, started, h.keys[events.PrincipalClient])

	// alice's genuine charge, its amount raised, sent with its signature.
	var genuine bus.Record
	err = bus.ReadAll(ctx, h.cfg, h.cfg.Topic(events.CommandTopic(events.ServicePayment)), func(r bus.Record) error {
		if events.Type(r.Headers[events.HeaderType]) == events.ChargePayment && r.Headers[events.HeaderSagaID] == alice.SagaID {
			genuine = r
		}
		return nil
	})
	if err != nil || genuine.Value == nil {
		t.Fatalf("alice's charge not found: %v", err)
	}
	tampered := []byte(strings.Replace(string(genuine.Value), `"amount_cents":`, `"amount_cents":9`, 1))
	if string(tampered) == string(genuine.Value) {
		t.Fatalf("the charge has no amount to change: %s", genuine.Value)
	}
	hdr := genuine.Headers
	hdr[events.HeaderID] = "tampered-charge" // a new id, or the service would answer it as seen before
	h.send(events.CommandTopic(events.ServicePayment), string(genuine.Key), tampered, hdr)
	want["tampered-charge"] = events.RefusedBadSignature
	h.refusedAs(want)

	// Nothing happened: no refund, no charge but alice's, no new saga.
	var payments []string
	err = bus.ReadAll(ctx, h.cfg, h.cfg.Topic(events.DomainTopic(events.ServicePayment)), func(r bus.Record) error {
		payments = append(payments, r.Headers[events.HeaderType]+" "+r.Headers[events.HeaderCorrelationID])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(payments)
	if w := []string{string(events.PaymentCharged) + " " + alice.BookingRef, string(events.PaymentDeclined) + " " + bob.BookingRef}; !slices.Equal(payments, w) {
		t.Errorf("the payment log holds %v, want %v", payments, w)
	}
	for _, id := range []string{req.SagaID, ghost} {
		if v, err := h.c.Inspect(ctx, id); err == nil {
			t.Errorf("a forged record made saga %s (%s) appear", v.SagaID, v.Status)
		}
	}
	rep, err := h.c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("reconcile after the forgeries: %+v", rep.Findings)
	}
}
