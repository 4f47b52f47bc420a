//go:build chaos

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/projections"
)

// rawLogs is an independent fold of the services' own logs, following
// the services' rules, so the test does not only trust the projections it
// checks.
type rawLogs struct {
	// Seats: per show the seats held at the end and the most ever held at
	// once (the booking log is keyed by show, so one show's events are in
	// order in one partition).
	held, maxHeld map[string]int
	heldBy        map[string]int // booking ref -> seats held
	released      map[string]bool
	// Money per booking ref: charge ids (charges that took money) and the
	// charged and refunded amounts (each once, as the services count them).
	chargeIDs     map[string][]string
	chargedCents  map[string]int64
	refundedCents map[string]int64
	refundEvents  map[string]int // PaymentRefunded events with money, per ref
	// Notifications delivered: booking ref and step.
	delivered map[[2]string]int
	// unreadable counts records that do not check, per topic.
	unreadable map[string]int
}

func readRawLogs(ctx context.Context, cfg bus.Config) (*rawLogs, error) {
	r := &rawLogs{held: map[string]int{}, maxHeld: map[string]int{}, heldBy: map[string]int{}, released: map[string]bool{},
		chargeIDs: map[string][]string{}, chargedCents: map[string]int64{}, refundedCents: map[string]int64{},
		refundEvents: map[string]int{}, delivered: map[[2]string]int{}, unreadable: map[string]int{}}
	read := func(topic string, fn func(events.Envelope)) error {
		return bus.ReadAll(ctx, cfg, cfg.Topic(topic), func(rec bus.Record) error {
			e, err := events.FromHeaders("", rec.Headers, rec.Value)
			if err == nil {
				if e.Key == "" {
					e.Key = string(rec.Key)
				}
				e, err = events.Check(e)
			}
			if err != nil {
				r.unreadable[topic]++
				return nil
			}
			fn(e)
			return nil
		})
	}
	err := read(events.DomainTopic(events.ServiceBooking), func(e events.Envelope) {
		if e.Type != events.SeatsReserved && e.Type != events.SeatsReleased {
			return
		}
		p, err := events.Decode[events.SeatsV1](e)
		if err != nil || p.Outcome != events.OutcomeSucceeded {
			return
		}
		_, holds := r.heldBy[p.BookingRef]
		switch e.Type {
		case events.SeatsReserved:
			if !holds && !r.released[p.BookingRef] && p.Seats > 0 {
				r.heldBy[p.BookingRef] = p.Seats
				r.held[p.ShowID] += p.Seats
				r.maxHeld[p.ShowID] = max(r.maxHeld[p.ShowID], r.held[p.ShowID])
			}
		case events.SeatsReleased:
			if holds {
				r.held[p.ShowID] -= r.heldBy[p.BookingRef]
				delete(r.heldBy, p.BookingRef)
			}
			r.released[p.BookingRef] = true
		}
	})
	if err != nil {
		return nil, err
	}
	err = read(events.DomainTopic(events.ServicePayment), func(e events.Envelope) {
		p, err := events.Decode[events.PaymentV1](e)
		if err != nil || p.Outcome != events.OutcomeSucceeded || p.AmountCents <= 0 {
			return
		}
		switch e.Type {
		case events.PaymentCharged:
			ids := r.chargeIDs[p.BookingRef]
			for _, id := range ids {
				if id == p.ChargeID {
					return // the same charge recorded again
				}
			}
			if len(ids) == 0 {
				r.chargedCents[p.BookingRef] = p.AmountCents
			}
			r.chargeIDs[p.BookingRef] = append(ids, p.ChargeID)
		case events.PaymentRefunded:
			if r.refundEvents[p.BookingRef] == 0 {
				r.refundedCents[p.BookingRef] = p.AmountCents
			}
			r.refundEvents[p.BookingRef]++
		}
	})
	if err != nil {
		return nil, err
	}
	err = read(events.DomainTopic(events.ServiceNotification), func(e events.Envelope) {
		p, err := events.Decode[events.NotificationSentV1](e)
		if err != nil || p.Outcome != events.OutcomeSucceeded {
			return
		}
		r.delivered[[2]string{p.BookingRef, p.Step}]++
	})
	return r, err
}

// outcome is what the checks found, for the report.
type outcome struct {
	Keys, BookSagas, CancelSagas int
	ByStatus                     map[string]int            // book-ticket sagas
	ByKind                       map[string]map[string]int // kind -> status -> count
	CancelByStatus               map[string]int
	Others                       map[string]map[string]int // other definitions -> status -> count
	Standing                     int                       // completed, not cancelled bookings
	StandingSeats                map[string]int            // per show
	StandingCents                int64
	HeldSeats, MaxHeld           map[string]int
	ChargedCents, RefundedCents  int64
	Charges, Refunds             int
	Notifications                int // delivered (booking ref, step)
	WantNotifications            int // completed bookings + completed cancellations
	Problems                     []string
	ProblemSagas                 []string
}

func (o *outcome) problem(sagaID, format string, args ...any) {
	o.Problems = append(o.Problems, fmt.Sprintf(format, args...))
	if sagaID != "" && len(o.ProblemSagas) < 8 && !slices.Contains(o.ProblemSagas, sagaID) {
		o.ProblemSagas = append(o.ProblemSagas, sagaID)
	}
}

// check compares what was posted with the saga log, the services' logs,
// the inventory projection and the reconciliation.
func check(bookings []*booking, cancelled map[string]bool, sagas *projections.Sagas, inv *projections.Inventory,
	raw *rawLogs, rec client.Reconciliation) *outcome {
	o := &outcome{ByStatus: map[string]int{}, ByKind: map[string]map[string]int{}, CancelByStatus: map[string]int{},
		Others: map[string]map[string]int{}, StandingSeats: map[string]int{}, HeldSeats: raw.held, MaxHeld: raw.maxHeld}
	shows := demo.Shows()
	known := map[string]bool{}
	keys := map[string]bool{}
	for _, b := range bookings {
		keys[b.Key] = true
	}
	o.Keys = len(keys)
	standing := map[string]int64{} // ref -> amount
	completedBookings := map[string]bool{}
	for _, b := range bookings {
		known[b.SagaID] = true
		v, ok := sagas.Find(b.SagaID)
		if !ok || v.SagaID != b.SagaID {
			o.problem("", "lost saga: key %s (saga %s, %s) was posted at %s but the saga log has no saga", b.Key, b.SagaID, b.Ref, b.Posted.Format("15:04:05.000"))
			continue
		}
		if v.Definition != flows.BookTicket || v.BookingRef != b.Ref {
			o.problem(v.SagaID, "saga %s of key %s is %s of %s, want book-ticket of %s", v.SagaID, b.Key, v.Definition, v.BookingRef, b.Ref)
		}
		if o.ByKind[b.Kind] == nil {
			o.ByKind[b.Kind] = map[string]int{}
		}
		o.ByKind[b.Kind][v.Status]++
		o.ByStatus[v.Status]++
		switch {
		case v.Status != "completed" && v.Status != "compensated":
			o.problem(v.SagaID, "saga %s (%s, %s) ended %s: %s", v.SagaID, b.Key, b.Ref, v.Status, v.Reason)
		case v.Status == "completed" && neverCompletes[b.Kind]:
			o.problem(v.SagaID, "saga %s (%s, kind %s) completed; a %s booking must never complete", v.SagaID, b.Key, b.Kind, b.Kind)
		}
		if v.Status != "completed" {
			continue
		}
		completedBookings[b.Ref] = true
		var d events.BookingData
		if err := json.Unmarshal(v.Data, &d); err != nil {
			o.problem(v.SagaID, "saga %s: data: %v", v.SagaID, err)
			continue
		}
		if want := int64(d.Seats) * shows[d.ShowID].PriceCents; d.AmountCents != want || d.Seats != b.Req.Seats || d.ShowID != b.Req.ShowID {
			o.problem(v.SagaID, "saga %s: data says %d seat(s) of %s for %d cents, posted %d seat(s) of %s (%d cents)",
				v.SagaID, d.Seats, d.ShowID, d.AmountCents, b.Req.Seats, b.Req.ShowID, want)
		}
		if cv, ok := sagas.Find(events.SagaIDFor("cancel:" + b.Ref)); ok && cv.Status == "completed" {
			continue // cancelled
		}
		o.Standing++
		o.StandingSeats[d.ShowID] += d.Seats
		o.StandingCents += d.AmountCents
		standing[b.Ref] = d.AmountCents
	}
	for _, v := range sagas.List("") {
		if v.Definition == flows.BookTicket {
			o.BookSagas++
		}
	}
	completedCancels := map[string]bool{}
	for ref := range cancelled {
		id := events.SagaIDFor("cancel:" + ref)
		known[id] = true
		v, ok := sagas.Find(id)
		if !ok || v.SagaID != id {
			o.problem("", "lost saga: the cancellation of %s (saga %s) was posted but the saga log has no saga", ref, id)
			continue
		}
		o.CancelSagas++
		o.CancelByStatus[v.Status]++
		if v.Status != "completed" && v.Status != "compensated" {
			o.problem(id, "cancel saga %s of %s ended %s: %s", id, ref, v.Status, v.Reason)
		}
		if v.Status == "completed" {
			completedCancels[ref] = true
		}
	}
	// One saga per idempotency key: no booking or cancellation the load did
	// not ask for. Sagas of other definitions (the add-show sagas that seed
	// the catalogue at start) are counted, and must have ended well too.
	for _, v := range sagas.List("") {
		switch {
		case v.Definition != flows.BookTicket && v.Definition != flows.CancelBooking:
			if o.Others[v.Definition] == nil {
				o.Others[v.Definition] = map[string]int{}
			}
			o.Others[v.Definition][v.Status]++
			if v.Status != "completed" {
				o.problem(v.SagaID, "%s saga %s (%s) ended %s: %s", v.Definition, v.SagaID, v.BookingRef, v.Status, v.Reason)
			}
		case !known[v.SagaID]:
			o.problem(v.SagaID, "saga %s (%s %s, %s) belongs to no posted idempotency key", v.SagaID, v.Definition, v.BookingRef, v.Status)
		}
	}
	if o.BookSagas != o.Keys {
		o.problem("", "%d book-ticket sagas for %d idempotency keys", o.BookSagas, o.Keys)
	}

	// Seats: the booking log, the inventory projection, the reconciliation
	// and the standing bookings agree, and no show was ever oversold.
	for id, show := range shows {
		si, _ := inv.Show(id)
		if raw.maxHeld[id] > show.Capacity {
			o.problem("", "show %s: %d seats held at one point, capacity %d", id, raw.maxHeld[id], show.Capacity)
		}
		if si.Held != o.StandingSeats[id] || raw.held[id] != o.StandingSeats[id] || rec.Summary.SeatsHeld[id] != o.StandingSeats[id] {
			o.problem("", "show %s: seats held %d (inventory) / %d (booking log) / %d (reconcile), completed bookings hold %d",
				id, si.Held, raw.held[id], rec.Summary.SeatsHeld[id], o.StandingSeats[id])
		}
		if si.Confirmed != si.Held {
			o.problem("", "show %s: %d seats held but %d confirmed; every saga has ended", id, si.Held, si.Confirmed)
		}
	}
	for ref, seats := range raw.heldBy {
		if _, ok := standing[ref]; !ok {
			o.problem(sagaOf(sagas, ref), "booking %s holds %d seat(s) but is not a completed, not cancelled booking", ref, seats)
		}
	}

	// Money: charged minus refunded, per booking and in total, is what the
	// standing bookings cost; nothing was charged twice.
	refs := map[string]bool{}
	for ref := range raw.chargeIDs {
		refs[ref] = true
	}
	for ref := range standing {
		refs[ref] = true
	}
	for ref := range refs {
		if ids := raw.chargeIDs[ref]; len(ids) > 1 {
			o.problem(sagaOf(sagas, ref), "booking %s charged %d times: %v", ref, len(ids), ids)
		}
		if n := raw.refundEvents[ref]; n > 0 {
			o.Refunds++
		}
		if len(raw.chargeIDs[ref]) > 0 {
			o.Charges++
		}
		net := raw.chargedCents[ref] - raw.refundedCents[ref]
		if net != standing[ref] {
			o.problem(sagaOf(sagas, ref), "booking %s: charged %d - refunded %d = %d cents, a completed not cancelled booking would owe %d",
				ref, raw.chargedCents[ref], raw.refundedCents[ref], net, standing[ref])
		}
	}
	for _, c := range raw.chargedCents {
		o.ChargedCents += c
	}
	for _, c := range raw.refundedCents {
		o.RefundedCents += c
	}
	if o.ChargedCents-o.RefundedCents != o.StandingCents || rec.Summary.NetCents != o.StandingCents {
		o.problem("", "charged %d - refunded %d = %d cents (reconcile net %d), completed bookings cost %d",
			o.ChargedCents, o.RefundedCents, o.ChargedCents-o.RefundedCents, rec.Summary.NetCents, o.StandingCents)
	}

	// Notifications: exactly one per completed booking and one per
	// completed cancellation, nothing for the others.
	want := map[[2]string]bool{}
	for ref := range completedBookings {
		want[[2]string{ref, "SendNotification"}] = true
	}
	for ref := range completedCancels {
		want[[2]string{ref, "NotifyCancelled"}] = true
	}
	o.WantNotifications = len(want)
	o.Notifications = len(raw.delivered)
	for k := range want {
		if raw.delivered[k] == 0 {
			o.problem(sagaOf(sagas, k[0]), "booking %s: no %s message delivered", k[0], k[1])
		}
	}
	for k := range raw.delivered {
		if !want[k] {
			o.problem(sagaOf(sagas, k[0]), "booking %s: a %s message was delivered, but it is not a completed booking or cancellation", k[0], k[1])
		}
	}
	if rec.Summary.NotificationsDelivered != len(want) {
		o.problem("", "reconcile counts %d notifications delivered, want %d", rec.Summary.NotificationsDelivered, len(want))
	}
	for topic, n := range raw.unreadable {
		o.problem("", "%d records of %s do not check", n, topic)
	}
	sort.Strings(o.Problems)
	return o
}

// sagaOf names the latest saga of a booking ref, for evidence.
func sagaOf(sagas *projections.Sagas, ref string) string {
	if v, ok := sagas.Find(ref); ok {
		return v.SagaID
	}
	return ""
}
