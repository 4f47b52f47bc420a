package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
)

func TestReconcileReadsTheLogs(t *testing.T) {
	cfg, c, pub := newTestClient(t)
	ctx := context.Background()
	rep, err := c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 0 || rep.Summary.Charges != 0 || rep.CheckedAt.IsZero() || rep.Unreadable != nil {
		t.Fatalf("empty logs: %+v", rep)
	}

	// A charge no saga asked for, and a record no build reads.
	p := events.PaymentV1{Handled: events.Handled{CommandID: "cmd-x", Outcome: events.OutcomeSucceeded},
		BookingRef: "BK-STRAY", ChargeID: "ch-stray", AmountCents: 4200}
	e := events.MustNew("evt-x", events.PaymentCharged, p, events.Trace{CorrelationID: "BK-STRAY"}, "BK-STRAY", time.Now())
	odd := message.NewMessage("evt-y", []byte(`{}`))
	odd.Metadata.Set(events.HeaderType, "PaymentTeleported")
	odd.Metadata.Set(events.HeaderVersion, "1")
	topic := cfg.Topic(events.DomainTopic(events.ServicePayment))
	if err := pub.Publish(topic, bus.ToMessage(e), odd); err != nil {
		t.Fatal(err)
	}
	rep, err = c.Reconcile(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != projections.KindChargeWithoutBooking || rep.Findings[0].BookingRef != "BK-STRAY" {
		t.Fatalf("findings %+v, want the stray charge", rep.Findings)
	}
	if rep.Summary.ChargedCents != 4200 || rep.Summary.NetCents != 4200 {
		t.Errorf("summary %+v", rep.Summary)
	}
	if rep.Unreadable[events.DomainTopic(events.ServicePayment)] != 1 {
		t.Errorf("unreadable %v, want the one record of %s", rep.Unreadable, events.DomainTopic(events.ServicePayment))
	}
}
