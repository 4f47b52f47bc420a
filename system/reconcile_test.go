package system_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
)

// TestReconcileAgreesThenFindsAStrayCharge: after bookings that completed,
// were declined, were refused and were cancelled, the services' logs agree
// and add up; a charge written behind the orchestrator's back is found.
func TestReconcileAgreesThenFindsAStrayCharge(t *testing.T) {
	h := newHarness(t)
	h.run()
	ctx := context.Background()

	kept := h.wait(h.book("alice", "show-1", 2, "tok_ok"))
	cancelled := h.wait(h.book("bob", "show-1", 3, "tok_ok"))
	declined := h.wait(h.book("bob", "show-1", 1, "tok_declined"))
	blocked := h.wait(h.book("mallory", "show-1", 1, "tok_ok"))
	rec, err := h.c.Cancel(ctx, cancelled.BookingRef, "")
	if err != nil {
		t.Fatal(err)
	}
	cancel := h.wait(rec)
	for v, want := range map[*projections.SagaView]string{&kept: "completed", &cancelled: "completed", &declined: "compensated",
		&blocked: "compensated", &cancel: "completed"} {
		if v.Status != want {
			t.Fatalf("saga %s (%s) is %s, want %s: %s", v.SagaID, v.Definition, v.Status, want, v.Reason)
		}
	}

	rep, err := h.c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Fatalf("findings on a consistent system: %+v", rep.Findings)
	}
	amount := func(v projections.SagaView) int64 {
		var d events.BookingData
		if err := json.Unmarshal(v.Data, &d); err != nil || d.AmountCents <= 0 {
			t.Fatalf("saga %s data %s: no amount (%v)", v.SagaID, v.Data, err)
		}
		return d.AmountCents
	}
	net := amount(kept) // the only completed booking not cancelled
	want := projections.Summary{
		Sagas:     map[string]int{"completed": 3, "compensated": 2},
		SeatsHeld: map[string]int{"show-1": 2},
		Charges:   2, ChargedCents: net + amount(cancelled),
		Refunds: 1, RefundedCents: amount(cancelled),
		NetCents: net,
		// A confirmation for each completed booking, and the cancellation.
		NotificationsDelivered: 3,
	}
	if !reflect.DeepEqual(rep.Summary, want) {
		t.Errorf("summary\n%+v\nwant\n%+v", rep.Summary, want)
	}
	if s := h.seats("show-1"); s.Held != rep.Summary.SeatsHeld["show-1"] {
		t.Errorf("reconcile counts %d seats of show-1 held, the inventory %d", rep.Summary.SeatsHeld["show-1"], s.Held)
	}

	// A charge no saga asked for, in the payment log (as a payment service
	// gone wrong would write it).
	stray := events.PaymentV1{Handled: events.Handled{CommandID: "stray-command", Outcome: events.OutcomeSucceeded},
		BookingRef: "BK-STRAY", UserID: "alice", ChargeID: "ch-stray", AmountCents: 1999}
	e, err := events.New("stray-charge", events.PaymentCharged, stray, events.Trace{CorrelationID: "BK-STRAY", Actor: "alice"}, "BK-STRAY", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.publish(events.DomainTopic(events.ServicePayment), bus.ToMessage(e))
	rep, err = h.c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 {
		t.Fatalf("findings %+v, want the stray charge only", rep.Findings)
	}
	if f := rep.Findings[0]; f.Kind != projections.KindChargeWithoutBooking || f.BookingRef != "BK-STRAY" || f.SagaID != "" {
		t.Errorf("finding %+v, want %s for BK-STRAY", f, projections.KindChargeWithoutBooking)
	}
	if rep.Summary.NetCents != net+1999 {
		t.Errorf("net %d after the stray charge, want %d", rep.Summary.NetCents, net+1999)
	}
}

// A RefundPayment no saga decided on (signed by the orchestrator's key, as
// a bug of its own could send it), keyed so that it reaches a payment
// partition that holds no charge of the booking, is answered with a refund
// of nothing;
// the booking's legitimate cancellation then refunds the charge. Reconcile
// reads the payment log as it is and finds nothing amiss.
func TestReconcileAfterAForgedRefundAndACancellation(t *testing.T) {
	h := newHarness(t)
	h.run()
	ctx := context.Background()
	// The booking's payments on the last partition, the forged refund on
	// the first: the reconciler reads the refund of nothing before them.
	last := bus.DefaultPartitions - 1
	bookKey := ""
	for i := 0; bookKey == ""; i++ {
		k := fmt.Sprintf("forged-booking-%d", i)
		if bus.PartitionFor(events.BookingRefFor(events.SagaIDFor(k)), bus.DefaultPartitions) == last {
			bookKey = k
		}
	}
	r, err := h.c.Book(ctx, client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 2, PaymentToken: "tok_ok", IdempotencyKey: bookKey})
	if err != nil {
		t.Fatal(err)
	}
	booked := h.wait(r)
	if booked.Status != "completed" {
		t.Fatalf("booking ended %s: %s", booked.Status, booked.Reason)
	}
	ref := booked.BookingRef
	key := ""
	for i := 0; key == ""; i++ {
		k := fmt.Sprintf("forged-%d", i)
		if bus.PartitionFor(k, bus.DefaultPartitions) == 0 {
			key = k
		}
	}
	data, _ := json.Marshal(events.BookingData{BookingRef: ref, UserID: "alice", ShowID: "show-1", Seats: 2})
	forged, err := events.New("forged-refund", events.RefundPayment, events.CommandV1{Step: "ChargePayment", Attempt: 1, Compensation: true, Data: data},
		events.Trace{SagaID: booked.SagaID, CorrelationID: ref, Actor: "mallory"}, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	orch := h.cfg
	orch.Signer = h.keys[events.PrincipalOrchestrator]
	pub, err := bus.NewPublisher(orch, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(h.cfg.Topic(events.CommandTopic(events.ServicePayment)), bus.ToMessage(forged)); err != nil {
		t.Fatal(err)
	}
	// The forged command is answered (a reply the saga, long ended,
	// ignores) with a refund of nothing on its partition.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		n := 0
		err := bus.ReadAll(ctx, h.cfg, h.cfg.Topic(events.DomainTopic(events.ServicePayment)), func(r bus.Record) error {
			if events.Type(r.Headers[events.HeaderType]) == events.PaymentRefunded {
				n++
			}
			return nil
		})
		return err == nil && n == 1, "waiting for the forged refund's record"
	})
	rec, err := h.c.Cancel(ctx, ref, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := h.wait(rec); v.Status != "completed" {
		t.Fatalf("cancellation ended %s: %s", v.Status, v.Reason)
	}
	rep, err := h.c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 {
		t.Fatalf("findings after a forged refund and a cancellation: %+v", rep.Findings)
	}
	if rep.Summary.Refunds != 1 || rep.Summary.RefundedCents != 5000 || rep.Summary.NetCents != 0 {
		t.Errorf("summary %+v, want the 50.00 charge refunded once", rep.Summary)
	}
}
