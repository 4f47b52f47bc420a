package saga_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Expected logs are written as one "Type Step Attempt [retry]" line per event.
const (
	startBook = `
		SagaStarted
		StepStarted VerifyUser 1`
	verified = `
		StepSucceeded VerifyUser 1
		StepStarted ReserveSeats 1`
	reserved = `
		StepSucceeded ReserveSeats 1
		StepStarted ChargePayment 1`
	charged = `
		StepSucceeded ChargePayment 1
		StepStarted ConfirmBooking 1`
	confirmed = `
		StepSucceeded ConfirmBooking 1
		StepStarted SendNotification 1`
	release = `
		CompensationStarted ReserveSeats 1`
	released = `
		StepCompensated ReserveSeats 1
		SagaCompensated`
)

func join(parts ...string) string { return strings.Join(parts, "\n") }

func TestSagaFlows(t *testing.T) {
	amount := `{"amount_cents":5000}`
	book := start(flows.BookTicket, bookData)
	untilCharge := flat(book, ok(""), ok(amount))
	untilConfirm := flat(untilCharge, ok(`{"charge_id":"ch_1"}`))
	untilNotify := flat(untilConfirm, ok(""))
	declined := flat(untilCharge, fail("card declined"))

	tests := []struct {
		name   string
		acts   []act
		want   string
		status saga.Status
		steps  string
	}{
		{
			name:   "happy path",
			acts:   flat(untilNotify, ok("")),
			want:   join(startBook, verified, reserved, charged, confirmed, "StepSucceeded SendNotification 1", "SagaCompleted"),
			status: saga.StatusCompleted,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=succeeded ConfirmBooking=succeeded SendNotification=succeeded",
		},
		{
			name:   "second start of the same saga starts nothing",
			acts:   flat(book, ignored("start again", func(*driver) saga.Input { return startFor(flows.BookTicket, idemKey, bookData) })),
			want:   startBook,
			status: saga.StatusRunning,
			steps:  "VerifyUser=running ReserveSeats=pending ChargePayment=pending ConfirmBooking=pending SendNotification=pending",
		},
		{
			name:   "user rejected: nothing to undo",
			acts:   flat(book, fail("blocked")),
			want:   join(startBook, "StepFailed VerifyUser 1", "SagaCompensated"),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=failed ReserveSeats=skipped ChargePayment=skipped ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name:   "seats sold out: the failed step had no effect, no compensation",
			acts:   flat(book, ok(""), fail("sold out")),
			want:   join(startBook, verified, "StepFailed ReserveSeats 1", "SagaCompensated"),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=failed ChargePayment=skipped ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name:   "payment declined: seats released",
			acts:   flat(declined, ok("")),
			want:   join(startBook, verified, reserved, "StepFailed ChargePayment 1", release, released),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=failed ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "confirmation fails: refund then release, in reverse order",
			acts: flat(untilConfirm, fail("show cancelled"), ok(""), ok("")),
			want: join(startBook, verified, reserved, charged, `
				StepFailed ConfirmBooking 1
				CompensationStarted ChargePayment 1
				StepCompensated ChargePayment 1`, release, released),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=compensated ConfirmBooking=failed SendNotification=skipped",
		},
		{
			name: "past the pivot the notification is retried beyond MaxAttempts, never compensated",
			acts: flat(untilNotify, fail("smtp down"), wake, retry("busy"), wake, fail("x"), wake, timeout, wake, ok("")),
			want: join(startBook, verified, reserved, charged, confirmed, `
				StepFailed SendNotification 1 retry
				StepStarted SendNotification 2
				StepFailed SendNotification 2 retry
				StepStarted SendNotification 3
				StepFailed SendNotification 3 retry
				StepStarted SendNotification 4
				StepTimedOut SendNotification 4 retry
				StepStarted SendNotification 5
				StepSucceeded SendNotification 5
				SagaCompleted`),
			status: saga.StatusCompleted,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=succeeded ConfirmBooking=succeeded SendNotification=succeeded",
		},
		{
			name: "transient reservation failure is retried",
			acts: flat(book, ok(""), retry("lock timeout"), wake, ok(amount), ok(""), ok(""), ok("")),
			want: join(startBook, verified, `
				StepFailed ReserveSeats 1 retry
				StepStarted ReserveSeats 2
				StepSucceeded ReserveSeats 2
				StepStarted ChargePayment 1`, charged, confirmed, "StepSucceeded SendNotification 1", "SagaCompleted"),
			status: saga.StatusCompleted,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=succeeded ConfirmBooking=succeeded SendNotification=succeeded",
		},
		{
			name: "retryable until MaxAttempts: the step fails for good",
			acts: flat(book, ok(""), retry("a"), wake, retry("b"), wake, retry("c")),
			want: join(startBook, verified, `
				StepFailed ReserveSeats 1 retry
				StepStarted ReserveSeats 2
				StepFailed ReserveSeats 2 retry
				StepStarted ReserveSeats 3
				StepFailed ReserveSeats 3
				SagaCompensated`),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=failed ChargePayment=skipped ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "charge retryable MaxAttempts times: it fails for good, seats released",
			acts: flat(untilCharge, retry("psp 503"), wake, retry("psp 503"), wake, retry("psp 503"), ok("")),
			want: join(startBook, verified, reserved, `
				StepFailed ChargePayment 1 retry
				StepStarted ChargePayment 2
				StepFailed ChargePayment 2 retry
				StepStarted ChargePayment 3
				StepFailed ChargePayment 3`, release, released),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=failed ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "charge times out on every attempt: it may have charged, so refund first",
			acts: flat(untilCharge, timeout, wake, timeout, wake, timeout, ok(""), ok("")),
			want: join(startBook, verified, reserved, `
				StepTimedOut ChargePayment 1 retry
				StepStarted ChargePayment 2
				StepTimedOut ChargePayment 2 retry
				StepStarted ChargePayment 3
				StepTimedOut ChargePayment 3
				CompensationStarted ChargePayment 1
				StepCompensated ChargePayment 1`, release, released),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=compensated ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "charge times out once, then succeeds",
			acts: flat(untilCharge, timeout, wake, ok(""), ok(""), ok("")),
			want: join(startBook, verified, reserved, `
				StepTimedOut ChargePayment 1 retry
				StepStarted ChargePayment 2
				StepSucceeded ChargePayment 2
				StepStarted ConfirmBooking 1`, confirmed, "StepSucceeded SendNotification 1", "SagaCompleted"),
			status: saga.StatusCompleted,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=succeeded ConfirmBooking=succeeded SendNotification=succeeded",
		},
		{
			// Attempt 1 may have charged before the decline of attempt 2: the
			// step stays uncertain and is refunded.
			name: "charge times out, then is declined: still refunded",
			acts: flat(untilCharge, timeout, wake, fail("declined"), ok(""), ok("")),
			want: join(startBook, verified, reserved, `
				StepTimedOut ChargePayment 1 retry
				StepStarted ChargePayment 2
				StepFailed ChargePayment 2
				CompensationStarted ChargePayment 1
				StepCompensated ChargePayment 1`, release, released),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=compensated ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "compensation retried after failures and a timeout",
			acts: flat(declined, fail("db down"), wake, retry("busy"), wake, timeout, wake, ok("")),
			want: join(startBook, verified, reserved, "StepFailed ChargePayment 1", release, `
				CompensationFailed ReserveSeats 1 retry
				CompensationStarted ReserveSeats 2
				CompensationFailed ReserveSeats 2 retry
				CompensationStarted ReserveSeats 3
				CompensationFailed ReserveSeats 3 retry
				CompensationStarted ReserveSeats 4
				StepCompensated ReserveSeats 4
				SagaCompensated`),
			status: saga.StatusCompensated,
			steps:  "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=failed ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "compensation fails CompensationRetry.MaxAttempts times: saga failed",
			acts: flat(declined, fail("1"), wake, fail("2"), wake, timeout, wake, fail("4"), wake, fail("5")),
			want: join(startBook, verified, reserved, "StepFailed ChargePayment 1", release, `
				CompensationFailed ReserveSeats 1 retry
				CompensationStarted ReserveSeats 2
				CompensationFailed ReserveSeats 2 retry
				CompensationStarted ReserveSeats 3
				CompensationFailed ReserveSeats 3 retry
				CompensationStarted ReserveSeats 4
				CompensationFailed ReserveSeats 4 retry
				CompensationStarted ReserveSeats 5
				CompensationFailed ReserveSeats 5
				SagaFailed
				SagaStuck failed`),
			status: saga.StatusFailed,
			steps:  "VerifyUser=succeeded ReserveSeats=compensating ChargePayment=failed ConfirmBooking=skipped SendNotification=skipped",
		},
		{
			name: "a failed refund parks the saga before the seats are released",
			acts: flat(untilConfirm, fail("x"), repeat(maxComp-1, act{"fail+wake", func(d *driver) { fail("r").do(d); wake.do(d) }}), fail("r")),
			want: join(startBook, verified, reserved, charged, `
				StepFailed ConfirmBooking 1
				CompensationStarted ChargePayment 1
				CompensationFailed ChargePayment 1 retry
				CompensationStarted ChargePayment 2
				CompensationFailed ChargePayment 2 retry
				CompensationStarted ChargePayment 3
				CompensationFailed ChargePayment 3 retry
				CompensationStarted ChargePayment 4
				CompensationFailed ChargePayment 4 retry
				CompensationStarted ChargePayment 5
				CompensationFailed ChargePayment 5
				SagaFailed
				SagaStuck failed`),
			status: saga.StatusFailed,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=compensating ConfirmBooking=failed SendNotification=skipped",
		},
		{
			name: "duplicate and late replies are ignored; unknown or forged ones refused",
			acts: flat(book, ok(""), dup, retry("busy"), dup, wake, late, ok(amount), dup, late,
				refused("unknown command id", events.RefusedUnknownCommand, func(d *driver) saga.Input {
					return replyFor(d.s, events.DerivedID("nope", "x"), events.ChargePayment, events.OutcomeSucceeded, "", "", d.now)
				}),
				refused("an attempt not yet made", events.RefusedUnknownCommand, func(d *driver) saga.Input {
					return replyFor(d.s, events.CommandID(d.s.SagaID, "ChargePayment", false, 2), events.ChargePayment, events.OutcomeSucceeded, "", "", d.now)
				}),
				refused("a compensation never sent", events.RefusedUnknownCommand, func(d *driver) saga.Input {
					return replyFor(d.s, events.CommandID(d.s.SagaID, "ReserveSeats", true, 1), events.ReleaseSeats, events.OutcomeSucceeded, "", "", d.now)
				}),
				refused("the command's id with another command", events.RefusedUnknownCommand, func(d *driver) saga.Input {
					r := d.replyTo(events.OutcomeSucceeded, "", "")
					return replyFor(d.s, r.Payload.CommandID, events.RefundPayment, events.OutcomeSucceeded, "", "", d.now)
				}),
				refused("signed by another service", events.RefusedSignerNotAllowed, signedBy(events.ServiceNotification)),
				refused("signed by the orchestrator", events.RefusedSignerNotAllowed, signedBy(events.PrincipalOrchestrator)),
				act{"signed by payment", func(d *driver) { d.feed(signedBy(events.ServicePayment)(d)) }},
				ok(""), ok(""), dup,
				ignored("new reply to a finished saga", func(d *driver) saga.Input {
					return replyFor(d.s, events.CommandID(d.s.SagaID, "SendNotification", false, 1), events.SendNotification, events.OutcomeFailed, "", "", d.now)
				})),
			want: join(startBook, verified, `
				StepFailed ReserveSeats 1 retry
				StepStarted ReserveSeats 2
				StepSucceeded ReserveSeats 2
				StepStarted ChargePayment 1`, charged, confirmed, "StepSucceeded SendNotification 1", "SagaCompleted"),
			status: saga.StatusCompleted,
			steps:  "VerifyUser=succeeded ReserveSeats=succeeded ChargePayment=succeeded ConfirmBooking=succeeded SendNotification=succeeded",
		},
		{
			name: "cancel-booking: refund, release, notify",
			acts: flat(start(flows.CancelBooking, cancelData), oks(3)),
			want: `
				SagaStarted
				StepStarted RefundPayment 1
				StepSucceeded RefundPayment 1
				StepStarted ReleaseSeats 1
				StepSucceeded ReleaseSeats 1
				StepStarted NotifyCancelled 1
				StepSucceeded NotifyCancelled 1
				SagaCompleted`,
			status: saga.StatusCompleted,
			steps:  "RefundPayment=succeeded ReleaseSeats=succeeded NotifyCancelled=succeeded",
		},
		{
			name: "cancel-booking: refund refused, nothing to undo",
			acts: flat(start(flows.CancelBooking, cancelData), fail("already refunded")),
			want: `
				SagaStarted
				StepStarted RefundPayment 1
				StepFailed RefundPayment 1
				SagaCompensated`,
			status: saga.StatusCompensated,
			steps:  "RefundPayment=failed ReleaseSeats=skipped NotifyCancelled=skipped",
		},
		{
			name: "cancel-booking: after the refund (its pivot) the release is retried until done",
			acts: flat(start(flows.CancelBooking, cancelData), ok(""), fail("a"), wake, fail("b"), wake, fail("c"), wake, ok(""), ok("")),
			want: `
				SagaStarted
				StepStarted RefundPayment 1
				StepSucceeded RefundPayment 1
				StepStarted ReleaseSeats 1
				StepFailed ReleaseSeats 1 retry
				StepStarted ReleaseSeats 2
				StepFailed ReleaseSeats 2 retry
				StepStarted ReleaseSeats 3
				StepFailed ReleaseSeats 3 retry
				StepStarted ReleaseSeats 4
				StepSucceeded ReleaseSeats 4
				StepStarted NotifyCancelled 1
				StepSucceeded NotifyCancelled 1
				SagaCompleted`,
			status: saga.StatusCompleted,
			steps:  "RefundPayment=succeeded ReleaseSeats=succeeded NotifyCancelled=succeeded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := run(t, tc.acts...)
			if got, want := summary(d.log), lines(tc.want); !slices.Equal(got, want) {
				t.Errorf("log:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
			if d.s.Status != tc.status {
				t.Errorf("status = %s, want %s (reason %q)", d.s.Status, tc.status, d.s.Reason)
			}
			if got := statuses(d.s); got != tc.steps {
				t.Errorf("steps:\n  %s\nwant:\n  %s", got, tc.steps)
			}
		})
	}
}
