package projections

import (
	"encoding/json"
	"sort"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// RefFacts is what a Reconciler holds of one booking reference's service
// logs, in a form a read model can store and give back: a reconciliation
// kept one event at a time is then judged by this package's own rules,
// not by a copy of them.
type RefFacts struct {
	Seats    *SeatsFacts `json:"seats,omitempty"`
	Money    *MoneyFacts `json:"money,omitempty"`
	Notified []string    `json:"notified,omitempty"`
}

// SeatsFacts is what the booking log says of a booking reference's seats.
type SeatsFacts struct {
	Show      string `json:"show"`
	Seats     int    `json:"seats"`
	Held      bool   `json:"held,omitempty"`
	Confirmed bool   `json:"confirmed,omitempty"`
	Released  bool   `json:"released,omitempty"`
}

// MoneyFacts is the money the payment log says moved for a booking
// reference.
type MoneyFacts struct {
	Charged       bool     `json:"charged,omitempty"`
	ChargeID      string   `json:"charge_id,omitempty"`
	ChargedCents  int64    `json:"charged_cents,omitempty"`
	Refunded      bool     `json:"refunded,omitempty"`
	RefundedCents int64    `json:"refunded_cents,omitempty"`
	Others        []string `json:"others,omitempty"`
}

// ServiceRef is the booking reference a service log event tells the
// reconciler about, and false for an event it does not fold.
func ServiceRef(e events.Envelope) (string, bool) {
	switch e.Type {
	case events.SeatsReserved, events.SeatsReleased, events.BookingConfirmed,
		events.PaymentCharged, events.PaymentRefunded, events.NotificationSent:
	default:
		return "", false
	}
	var p struct {
		BookingRef string `json:"booking_ref"`
	}
	if json.Unmarshal(e.Payload, &p) != nil || p.BookingRef == "" {
		return "", false
	}
	return p.BookingRef, true
}

// Facts returns what r holds of ref's service logs.
func (r *Reconciler) Facts(ref string) RefFacts {
	var f RefFacts
	if s := r.seats[ref]; s != nil {
		f.Seats = &SeatsFacts{Show: s.show, Seats: s.seats, Held: s.held, Confirmed: s.confirmed, Released: s.released}
	}
	if m := r.money[ref]; m != nil {
		f.Money = &MoneyFacts{Charged: m.charged, ChargeID: m.chargeID, ChargedCents: m.chargedCents,
			Refunded: m.refunded, RefundedCents: m.refundedCents, Others: append([]string(nil), m.others...)}
	}
	for k := range r.notified {
		if k[0] == ref {
			f.Notified = append(f.Notified, k[1])
		}
	}
	sort.Strings(f.Notified)
	return f
}

// Restore gives r what Facts returned for ref.
func (r *Reconciler) Restore(ref string, f RefFacts) {
	if s := f.Seats; s != nil {
		r.seats[ref] = &seatsState{show: s.Show, seats: s.Seats, held: s.Held, confirmed: s.Confirmed, released: s.Released}
	}
	if m := f.Money; m != nil {
		r.money[ref] = &moneyState{charged: m.Charged, chargeID: m.ChargeID, chargedCents: m.ChargedCents,
			refunded: m.Refunded, refundedCents: m.RefundedCents, others: append([]string(nil), m.Others...)}
	}
	for _, what := range f.Notified {
		r.notified[[2]string{ref, what}] = true
	}
}

// RestoreSaga gives r a saga's folded state, as a read model stores it,
// instead of the saga log events that made it.
func (r *Reconciler) RestoreSaga(s saga.State) { r.sagas.Put(s) }

// Put sets a saga's folded state, as Add would have left it (the saga's
// events are not listed).
func (p *Sagas) Put(s saga.State) {
	if _, ok := p.states[s.SagaID]; !ok {
		p.order = append(p.order, s.SagaID)
		p.states[s.SagaID] = s
		p.byRef[s.BookingRef] = insertByStart(p.byRef[s.BookingRef], s.SagaID, s.StartedAt, p.states)
		return
	}
	p.states[s.SagaID] = s
}
