//go:build chaos

package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/projections"
)

// summary renders the counts of a run.
func summary(s settings, broker *brokerSide, ns string, l *load, bookings []*booking, cancelled map[string]bool, o *outcome,
	rec client.Reconciliation, procs []*proc, brokerRestarts int, brokerDown time.Duration, retried int, retriedKinds map[string]int,
	exits []string, postTime, chaosTime, settleTime, total time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("=== CHAOS RESULT (%s broker %s, namespace %s, seed %d) ===", broker.name, broker.addr, ns, s.seed)
	w("requests posted:     %d acknowledged (%d duplicates, %d cancellations), %d failed posts retried, %d reconnects",
		l.posts.Load(), l.duplicates.Load(), l.cancelPosts.Load(), l.failedPosts.Load(), l.reconnects.Load())
	w("idempotency keys:    %d distinct bookings, %d book-ticket sagas; %d cancelled refs, %d cancel-booking sagas (%d cancels refused: not completed)",
		o.Keys, o.BookSagas, len(cancelled), o.CancelSagas, l.cancelRefuse.Load())
	others := ""
	for def, m := range o.Others {
		others += fmt.Sprintf("; %s %s", def, counts(m))
	}
	w("sagas by status:     book-ticket %s; cancel-booking %s%s; reconcile (all) %s", counts(o.ByStatus), counts(o.CancelByStatus),
		others, counts(rec.Summary.Sagas))
	for _, k := range kinds {
		if m := o.ByKind[k]; m != nil {
			w("  %-15s %s", k, counts(m))
		}
	}
	after := "all ended after the retry"
	if n := o.ByStatus["failed"] + o.CancelByStatus["failed"]; n > 0 {
		after = fmt.Sprintf("%d still failed after the retry", n)
	}
	w("failed, retried:     %d (by kind %s), %s", retried, counts(retriedKinds), after)
	shows := demo.Shows()
	var ids []string
	for id := range shows {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		w("seats %-14s held %d (max ever %d) of %d; completed not cancelled bookings hold %d",
			id, o.HeldSeats[id], o.MaxHeld[id], shows[id].Capacity, o.StandingSeats[id])
	}
	w("money:               charged %s (%d charges) - refunded %s (%d refunds) = %s; completed not cancelled bookings (%d) cost %s; reconcile net %s",
		projections.Cents(o.ChargedCents), o.Charges, projections.Cents(o.RefundedCents), o.Refunds,
		projections.Cents(o.ChargedCents-o.RefundedCents), o.Standing, projections.Cents(o.StandingCents), projections.Cents(rec.Summary.NetCents))
	w("notifications:       %d delivered, want %d (one per completed booking and per completed cancellation); reconcile %d",
		o.Notifications, o.WantNotifications, rec.Summary.NotificationsDelivered)
	w("reconcile findings:  %d", len(rec.Findings))
	var kills []string
	totalKills := 0
	for _, p := range procs {
		starts, k, _ := p.counts()
		totalKills += k
		kills = append(kills, fmt.Sprintf("%s %d/%d", p.name, k, starts))
	}
	w("kills survived:      %d (kills/starts: %s)", totalKills, strings.Join(kills, ", "))
	w("broker restarts:     %d (%s back in %s); unexpected exits %d", brokerRestarts, broker.name, brokerDown.Round(time.Millisecond), len(exits))
	w("times:               posting %s, chaos %s, settling %s, total %s", postTime.Round(time.Millisecond),
		chaosTime.Round(time.Millisecond), settleTime.Round(time.Millisecond), total.Round(time.Millisecond))
	verdict := "PASS"
	if len(o.Problems) > 0 || len(exits) > 0 || len(rec.Findings) > 0 {
		verdict = fmt.Sprintf("FAIL (%d problems, %d unexpected exits)", len(o.Problems), len(exits))
	}
	w("CHAOS %s %s: bookings=%d requests=%d keys=%d sagas=%d completed=%d compensated=%d retried=%d cancelled=%d seats=%s net=%s notifications=%d/%d findings=%d kills=%d broker_restarts=%d took=%s",
		verdict, broker.name, len(bookings), l.posts.Load(), o.Keys, o.BookSagas+o.CancelSagas, o.ByStatus["completed"], o.ByStatus["compensated"],
		retried, o.CancelByStatus["completed"], seatsLine(o, ids, shows), projections.Cents(o.ChargedCents-o.RefundedCents),
		o.Notifications, o.WantNotifications, len(rec.Findings), totalKills, brokerRestarts, total.Round(time.Second))
	return b.String()
}

func seatsLine(o *outcome, ids []string, shows map[string]catalog.Show) string {
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%s:%d/%d", id, o.HeldSeats[id], shows[id].Capacity))
	}
	return strings.Join(parts, ",")
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
