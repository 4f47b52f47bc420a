package projections_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// The service logs of these tests are written by hand, as each service
// would write them; the saga logs come from the pure machine (sagaRun).

var rcSeq int

// rcEvent builds a checked event of a service's log.
func rcEvent(t *testing.T, typ events.Type, payload any, ref, key string) events.Envelope {
	t.Helper()
	rcSeq++
	e, err := events.New(fmt.Sprintf("rec-%d", rcSeq), typ, payload, events.Trace{CorrelationID: ref}, key, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Check(e); err != nil {
		t.Fatalf("test built an invalid %s: %v", typ, err)
	}
	return e
}

func rcHandled(outcome string) events.Handled {
	rcSeq++
	return events.Handled{CommandID: fmt.Sprintf("cmd-%d", rcSeq), Outcome: outcome}
}

func rcSeats(t *testing.T, typ events.Type, ref, show string, seats int) events.Envelope {
	return rcSeatsOutcome(t, typ, ref, show, seats, events.OutcomeSucceeded)
}

func rcSeatsOutcome(t *testing.T, typ events.Type, ref, show string, seats int, outcome string) events.Envelope {
	p := events.SeatsV1{Handled: rcHandled(outcome), BookingRef: ref, ShowID: show, UserID: "alice", Seats: seats, AmountCents: int64(seats) * 2500}
	return rcEvent(t, typ, p, ref, show)
}

func rcPay(t *testing.T, typ events.Type, ref, chargeID string, cents int64) events.Envelope {
	return rcPayOutcome(t, typ, ref, chargeID, cents, events.OutcomeSucceeded)
}

func rcPayOutcome(t *testing.T, typ events.Type, ref, chargeID string, cents int64, outcome string) events.Envelope {
	p := events.PaymentV1{Handled: rcHandled(outcome), BookingRef: ref, UserID: "alice", ChargeID: chargeID, AmountCents: cents}
	return rcEvent(t, typ, p, ref, ref)
}

func rcNote(t *testing.T, ref, step, outcome string) events.Envelope {
	p := events.NotificationSentV1{Handled: rcHandled(outcome), BookingRef: ref, UserID: "alice", Step: step, Message: "Your booking " + ref}
	return rcEvent(t, events.NotificationSent, p, ref, "alice")
}

// booked is a completed booking of 2 seats of show-1 for 50.00 and the
// service records it leaves.
func rcBooked(t *testing.T, key string, at time.Time) (*sagaRun, []events.Envelope) {
	r := startBooking(t, key, "alice", "show-1", 2, "tok_ok", at).happy()
	ref := r.ref()
	return r, []events.Envelope{
		rcSeats(t, events.SeatsReserved, ref, "show-1", 2),
		rcPay(t, events.PaymentCharged, ref, "ch-"+ref, 5000),
		rcSeats(t, events.BookingConfirmed, ref, "show-1", 2),
		rcNote(t, ref, "SendNotification", events.OutcomeSucceeded),
	}
}

// cancelled is the completed cancel-booking saga of a booking made by
// booked, and its service records.
func rcCancelled(t *testing.T, ref string, at time.Time) (*sagaRun, []events.Envelope) {
	r := startCancel(t, ref, "alice", "show-1", 2, at)
	r.after(time.Second).ok(`{"refunded_cents":5000}`).after(time.Second).ok("").after(time.Second).ok("")
	return r, []events.Envelope{
		rcPay(t, events.PaymentRefunded, ref, "ch-"+ref, 5000),
		rcSeats(t, events.SeatsReleased, ref, "show-1", 2),
		rcNote(t, ref, "NotifyCancelled", events.OutcomeSucceeded),
	}
}

// declined is a booking whose card was declined: its seat released.
func rcDeclined(t *testing.T, key string, at time.Time) (*sagaRun, []events.Envelope) {
	r := startBooking(t, key, "bob", "show-1", 1, "tok_declined", at)
	r.after(time.Second).ok("").after(time.Second).ok(`{"amount_cents":2500}`).after(time.Second).fail("card declined")
	r.after(time.Second).ok("") // ReleaseSeats
	ref := r.ref()
	return r, []events.Envelope{
		rcSeats(t, events.SeatsReserved, ref, "show-1", 1),
		rcPayOutcome(t, events.PaymentDeclined, ref, "", 0, events.OutcomeFailed),
		rcSeats(t, events.SeatsReleased, ref, "show-1", 1),
	}
}

// failedSaga is a declined booking whose release never succeeded: its
// seat is still held and the saga is parked as failed.
func rcFailed(t *testing.T, key string, at time.Time) (*sagaRun, []events.Envelope) {
	r := startBooking(t, key, "bob", "show-1", 1, "tok_declined", at)
	r.after(time.Second).ok("").after(time.Second).ok(`{"amount_cents":2500}`).after(time.Second).fail("card declined")
	r.after(time.Second).fail("db down")
	for range 4 {
		r.wake().after(time.Second).fail("db down")
	}
	if r.s.Status != "failed" {
		t.Fatalf("setup: saga is %s, want failed", r.s.Status)
	}
	return r, []events.Envelope{rcSeats(t, events.SeatsReserved, r.ref(), "show-1", 1)}
}

// blocked is a booking of a blocked user: it fails at once and leaves no
// service record.
func rcBlocked(t *testing.T, key string, at time.Time) *sagaRun {
	return startBooking(t, key, "mallory", "show-1", 1, "tok_ok", at).after(time.Second).fail("blocked")
}

// running is a booking whose seats are reserved and whose charge awaits
// its reply, due 10s after at+2s.
func rcRunning(t *testing.T, key string, at time.Time) (*sagaRun, []events.Envelope) {
	r := startBooking(t, key, "alice", "show-1", 1, "tok_ok", at)
	r.after(time.Second).ok("").after(time.Second).ok(`{"amount_cents":2500}`)
	ref := r.ref()
	return r, []events.Envelope{
		rcSeats(t, events.SeatsReserved, ref, "show-1", 1),
		rcPay(t, events.PaymentCharged, ref, "ch-"+ref, 2500),
	}
}

// rcLog gathers saga logs and service records in one feed: the saga logs
// first and the service logs after, as client.Reconcile reads them.
type rcLog struct {
	sagas, records []events.Envelope
}

func (l *rcLog) run(r *sagaRun, recs ...events.Envelope) *rcLog {
	l.sagas = append(l.sagas, r.log...)
	l.records = append(l.records, recs...)
	return l
}

func (l *rcLog) add(recs ...events.Envelope) *rcLog {
	l.records = append(l.records, recs...)
	return l
}

func (l *rcLog) reconciler() *projections.Reconciler {
	r := projections.NewReconciler(flows.All())
	for _, e := range append(append([]events.Envelope{}, l.sagas...), l.records...) {
		r.Add(e)
	}
	return r
}

func rcKinds(fs []projections.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.BookingRef)
	}
	return out
}

func TestReconcileCleanLog(t *testing.T) {
	l := &rcLog{}
	done, recs := rcBooked(t, "clean-done", t0)
	l.run(done, recs...)
	// A charge and a notification recorded twice (another attempt of the
	// step) count once.
	l.add(rcPay(t, events.PaymentCharged, done.ref(), "ch-"+done.ref(), 5000),
		rcNote(t, done.ref(), "SendNotification", events.OutcomeSucceeded))

	kept, recs := rcBooked(t, "clean-cancelled", t0.Add(time.Minute))
	l.run(kept, recs...)
	cancel, recs := rcCancelled(t, kept.ref(), t0.Add(2*time.Minute))
	l.run(cancel, recs...)

	dec, recs := rcDeclined(t, "clean-declined", t0.Add(3*time.Minute))
	l.run(dec, recs...)
	// The blocked user's saga left nothing; a release and a refund of
	// nothing (tombstones, 0 seats and 0 cents) move nothing either.
	bl := rcBlocked(t, "clean-blocked", t0.Add(4*time.Minute))
	l.run(bl, rcSeats(t, events.SeatsReleased, bl.ref(), "show-1", 0), rcPay(t, events.PaymentRefunded, bl.ref(), "", 0))
	// A bounced notification delivers nothing; refused answers move nothing.
	l.add(rcNote(t, dec.ref(), "SendNotification", events.OutcomeRetryable),
		rcSeatsOutcome(t, events.SeatsReserved, "BK-REFUSED", "show-1", 3, events.OutcomeFailed),
		rcPayOutcome(t, events.PaymentCharged, "BK-REFUSED", "ch-x", 100, events.OutcomeFailed))

	now := t0.Add(10 * time.Minute)
	// A saga in flight, its reply due within the grace period: its logs
	// are not judged yet (it holds seats and money with no completed saga).
	run, recs := rcRunning(t, "clean-running", now.Add(-20*time.Second))
	l.run(run, recs...)

	rec := l.reconciler()
	if got := rec.Report(now); len(got) != 0 {
		t.Fatalf("findings on a clean log: %+v", got)
	}
	want := projections.Summary{
		Sagas:     map[string]int{"completed": 3, "compensated": 2, "running": 1},
		SeatsHeld: map[string]int{"show-1": 2 + 1},
		Charges:   3, ChargedCents: 5000 + 5000 + 2500,
		Refunds: 1, RefundedCents: 5000,
		NetCents:               5000 + 2500,
		NotificationsDelivered: 3,
	}
	if got := rec.Summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("Summary() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestReconcileFindings(t *testing.T) {
	now := t0.Add(time.Hour)
	tests := []struct {
		name string
		// build returns the log and the findings expected ("kind ref").
		build func(t *testing.T) (*rcLog, []string)
	}{
		{"seats held by a ref no saga has", func(t *testing.T) (*rcLog, []string) {
			return (&rcLog{}).add(rcSeats(t, events.SeatsReserved, "BK-GHOST", "show-1", 3)),
				[]string{"seats_without_booking BK-GHOST"}
		}},
		{"seats still held after compensation", func(t *testing.T) (*rcLog, []string) {
			r, recs := rcDeclined(t, "k", t0)
			return (&rcLog{}).run(r, recs[:2]...), []string{"seats_without_booking " + r.ref()}
		}},
		{"seats still held after a cancellation", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			c, crecs := rcCancelled(t, b.ref(), t0.Add(time.Minute))
			return (&rcLog{}).run(b, recs...).run(c, crecs[0], crecs[2]), []string{"seats_without_booking " + b.ref()}
		}},
		{"a charge of a ref no saga has", func(t *testing.T) (*rcLog, []string) {
			return (&rcLog{}).add(rcPay(t, events.PaymentCharged, "BK-GHOST", "ch-ghost", 1234)),
				[]string{"charge_without_booking BK-GHOST"}
		}},
		{"a charge of a compensated booking not refunded", func(t *testing.T) (*rcLog, []string) {
			r, recs := rcDeclined(t, "k", t0)
			return (&rcLog{}).run(r, recs...).add(rcPay(t, events.PaymentCharged, r.ref(), "ch-1", 2500)),
				[]string{"charge_without_booking " + r.ref()}
		}},
		{"a cancelled booking not refunded", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			c, crecs := rcCancelled(t, b.ref(), t0.Add(time.Minute))
			return (&rcLog{}).run(b, recs...).run(c, crecs[1:]...), []string{"charge_without_booking " + b.ref()}
		}},
		{"a completed booking without a charge", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			return (&rcLog{}).run(b, recs[0], recs[2], recs[3]), []string{"booking_without_charge " + b.ref()}
		}},
		{"a completed booking refunded without a cancellation", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			return (&rcLog{}).run(b, recs...).add(rcPay(t, events.PaymentRefunded, b.ref(), "ch-"+b.ref(), 5000)),
				[]string{"booking_without_charge " + b.ref()}
		}},
		{"a completed booking whose seats were released", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			return (&rcLog{}).run(b, recs...).add(rcSeats(t, events.SeatsReleased, b.ref(), "show-1", 2)),
				[]string{"booking_without_charge " + b.ref()}
		}},
		{"a ref charged under two charge ids", func(t *testing.T) (*rcLog, []string) {
			b, recs := rcBooked(t, "k", t0)
			return (&rcLog{}).run(b, recs...).add(rcPay(t, events.PaymentCharged, b.ref(), "ch-other", 5000)),
				[]string{"charged_twice " + b.ref()}
		}},
		{"a reply overdue by more than the grace period", func(t *testing.T) (*rcLog, []string) {
			r, recs := rcRunning(t, "k", now.Add(-2*time.Minute)) // due 12s after its start
			return (&rcLog{}).run(r, recs...), []string{"saga_past_deadline " + r.ref()}
		}},
		{"a retry overdue by more than the grace period", func(t *testing.T) (*rcLog, []string) {
			r := startBooking(t, "k", "alice", "show-1", 1, "tok_ok", now.Add(-5*time.Minute))
			r.after(time.Second).retry("busy")
			if r.s.NextWake().IsZero() {
				t.Fatal("setup: no retry scheduled")
			}
			return (&rcLog{}).run(r), []string{"saga_past_deadline " + r.ref()}
		}},
		{"a reply overdue within the grace period", func(t *testing.T) (*rcLog, []string) {
			r, recs := rcRunning(t, "k", now.Add(-50*time.Second)) // due 38s ago
			return (&rcLog{}).run(r, recs...), nil
		}},
		{"a failed saga", func(t *testing.T) (*rcLog, []string) {
			r, recs := rcFailed(t, "k", t0)
			return (&rcLog{}).run(r, recs...), []string{"seats_without_booking " + r.ref(), "saga_failed " + r.ref()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, want := tt.build(t)
			got := l.reconciler().Report(now)
			if want == nil {
				want = []string{}
			}
			l.checkRestored(t, now)
			if !reflect.DeepEqual(rcKinds(got), want) {
				t.Fatalf("findings %v, want %v\n%+v", rcKinds(got), want, got)
			}
			for _, f := range got {
				if f.Detail == "" {
					t.Errorf("finding without detail: %+v", f)
				}
				if f.BookingRef != "BK-GHOST" && f.SagaID == "" {
					t.Errorf("finding without its saga: %+v", f)
				}
			}
		})
	}
}

// A forged refund of nothing (a RefundPayment a forger posted where no
// charge was, which the payment service answered with a tombstone), then
// the booking's legitimate cancellation: the log holds the charge and its
// refund, and nothing is reported, whichever the reconciler reads first.
func TestReconcileForgedRefundBeforeACancellation(t *testing.T) {
	for _, first := range []string{"tombstone before the charge", "tombstone after the charge"} {
		t.Run(first, func(t *testing.T) {
			b, recs := rcBooked(t, "forged", t0)
			c, crecs := rcCancelled(t, b.ref(), t0.Add(time.Minute))
			forged := rcPay(t, events.PaymentRefunded, b.ref(), "", 0)
			l := &rcLog{}
			if first == "tombstone before the charge" {
				l.add(forged).run(b, recs...)
			} else {
				l.run(b, recs...).add(forged)
			}
			l.run(c, crecs...)
			rec := l.reconciler()
			l.checkRestored(t, t0.Add(time.Hour))
			if got := rec.Report(t0.Add(time.Hour)); len(got) != 0 {
				t.Fatalf("findings %+v, want none: the charge was refunded", got)
			}
			if s := rec.Summary(); s.Refunds != 1 || s.RefundedCents != 5000 || s.NetCents != 0 {
				t.Errorf("summary %+v, want one refund of 50.00 and nothing net", s)
			}
		})
	}
}

func TestReconcileDetailsSayWhy(t *testing.T) {
	b, recs := rcBooked(t, "why", t0)
	c, crecs := rcCancelled(t, b.ref(), t0.Add(time.Minute))
	got := (&rcLog{}).run(b, recs...).run(c, crecs[1:]...).reconciler().Report(t0.Add(time.Hour))
	if len(got) != 1 {
		t.Fatalf("findings %+v", got)
	}
	f := got[0]
	if f.SagaID != c.id() || !strings.Contains(f.Detail, "50.00") || !strings.Contains(f.Detail, "cancelled") {
		t.Errorf("finding %+v: want the cancel saga, the amount and the cancellation named", f)
	}

	r, rrecs := rcRunning(t, "late", t0)
	got = (&rcLog{}).run(r, rrecs...).reconciler().Report(t0.Add(10 * time.Minute))
	if len(got) != 1 || !strings.Contains(got[0].Detail, "ChargePayment") || got[0].SagaID != r.id() {
		t.Errorf("overdue saga finding %+v: want the step named", got)
	}
}

func TestReconcileGraceIsAdjustable(t *testing.T) {
	r, recs := rcRunning(t, "grace", t0)
	rec := (&rcLog{}).run(r, recs...).reconciler()
	now := t0.Add(42 * time.Second) // due at t0+12s: 30s late
	if got := rec.Report(now); len(got) != 0 {
		t.Fatalf("within the default grace: %+v", got)
	}
	rec.Grace = 10 * time.Second
	if got := rcKinds(rec.Report(now)); !reflect.DeepEqual(got, []string{"saga_past_deadline " + r.ref()}) {
		t.Fatalf("with a 10s grace: %v", got)
	}
}

// TestReconcileSettle: the saga log is read again after the service logs;
// findings about booking refs whose sagas moved meanwhile are dropped.
func TestReconcileSettle(t *testing.T) {
	first := &rcLog{}
	first.add(rcPay(t, events.PaymentCharged, "BK-GHOST", "ch-ghost", 100))
	late := startBooking(t, "settle", "alice", "show-1", 1, "tok_ok", t0)
	// The services have already acted for a saga the first read of the
	// saga log did not see.
	first.add(rcSeats(t, events.SeatsReserved, late.ref(), "show-1", 1))
	rec := first.reconciler()
	findings := rec.Report(t0.Add(time.Minute))
	if want := []string{"seats_without_booking " + late.ref(), "charge_without_booking BK-GHOST"}; !reflect.DeepEqual(rcKinds(findings), want) {
		t.Fatalf("findings %v, want %v", rcKinds(findings), want)
	}
	later := fold(late.log)
	if got := rcKinds(rec.Settle(findings, later)); !reflect.DeepEqual(got, []string{"charge_without_booking BK-GHOST"}) {
		t.Fatalf("settled findings %v, want only the ghost charge", got)
	}
	// Nothing moved: everything stays.
	if got := rec.Settle(findings, rec.Sagas()); !reflect.DeepEqual(got, findings) {
		t.Fatalf("settled against the same fold: %v", rcKinds(got))
	}
}

func TestCents(t *testing.T) {
	for c, want := range map[int64]string{0: "0.00", 5: "0.05", 5000: "50.00", 123456: "1234.56", -250: "-2.50"} {
		if got := projections.Cents(c); got != want {
			t.Errorf("Cents(%d) = %q, want %q", c, got, want)
		}
	}
}
