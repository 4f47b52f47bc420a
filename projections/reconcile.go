package projections

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// Kinds of Finding, in the order a report lists them.
const (
	// KindSeatsWithoutBooking: a booking ref holds seats in the booking log
	// but has no booking that stands: no saga at all, a book-ticket saga
	// that ended compensated or failed, or a completed cancellation.
	KindSeatsWithoutBooking = "seats_without_booking"
	// KindChargeWithoutBooking: a booking ref is charged (net of refunds)
	// in the payment log but has no booking that stands.
	KindChargeWithoutBooking = "charge_without_booking"
	// KindBookingWithoutCharge: a completed, not cancelled booking whose
	// charge is missing or refunded, or whose seats are not held.
	KindBookingWithoutCharge = "booking_without_charge"
	// KindChargedTwice: a booking ref charged under two different charge
	// ids; the payment service never does that, so money moved twice.
	KindChargedTwice = "charged_twice"
	// KindSagaPastDeadline: a running or compensating saga whose next
	// deadline (or scheduled retry) is more than the grace period in the
	// past: nothing is moving it on (is the orchestrator running?).
	KindSagaPastDeadline = "saga_past_deadline"
	// KindSagaFailed: a compensation could not be done; an operator must act.
	KindSagaFailed = "saga_failed"
)

var kindRank = map[string]int{KindSeatsWithoutBooking: 0, KindChargeWithoutBooking: 1, KindBookingWithoutCharge: 2,
	KindChargedTwice: 3, KindSagaPastDeadline: 4, KindSagaFailed: 5}

// DefaultGrace is how far past its deadline a saga may be before it is
// reported: the orchestrator acts on a deadline within a second or two.
const DefaultGrace = time.Minute

// Finding is one place where the logs disagree, or a saga that needs an
// operator.
type Finding struct {
	Kind       string `json:"kind"`
	BookingRef string `json:"booking_ref,omitempty"`
	SagaID     string `json:"saga_id,omitempty"`
	Detail     string `json:"detail"`
}

// Summary is what the logs add up to.
type Summary struct {
	// Sagas counts sagas by status (every definition).
	Sagas map[string]int `json:"sagas"`
	// SeatsHeld counts the seats held (reserved or confirmed) per show.
	SeatsHeld map[string]int `json:"seats_held"`
	// Charges is the number of booking refs charged; ChargedCents their
	// total, each ref once.
	Charges      int   `json:"charges"`
	ChargedCents int64 `json:"charged_cents"`
	// Refunds is the number of refunds that returned money.
	Refunds       int   `json:"refunds"`
	RefundedCents int64 `json:"refunded_cents"`
	// NetCents is ChargedCents - RefundedCents: what the completed,
	// not cancelled bookings cost, when the logs agree.
	NetCents int64 `json:"net_cents"`
	// NotificationsDelivered counts messages delivered, once per booking
	// ref and purpose however often a step was retried.
	NotificationsDelivered int `json:"notifications_delivered"`
}

// Reconciler folds the saga log and the booking, payment and notification
// logs and reports where they disagree. It is a pure fold: feed it checked
// envelopes of those logs in log order (per partition; the logs may come
// one after the other) and ask for a Report.
type Reconciler struct {
	sagas *Sagas
	// Grace is how far past a deadline a saga may be before it is reported.
	Grace    time.Duration
	seats    map[string]*seatsState
	money    map[string]*moneyState
	notified map[[2]string]bool
}

// seatsState is what the booking log says of one booking ref; it follows
// the booking service's rules: a reservation holds once, a release frees
// it for good.
type seatsState struct {
	show      string
	seats     int
	held      bool
	confirmed bool
	released  bool
}

// moneyState is the money the payment log says moved for one booking ref,
// judged from the records as they are rather than from what the payment
// service's rules say should follow one another: a refused record moves
// nothing, a refund of nothing (a tombstone, or one a forged command got
// on a partition that held no charge) neither hides a charge nor a later
// refund that returned it, and every refund that returned money counts.
type moneyState struct {
	charged      bool
	chargeID     string
	chargedCents int64
	// refunded is set once a refund returned money: the charge returned.
	// The payment service returns a charge once and answers a repeated
	// refund like the first, so later refunds repeat it.
	refunded      bool
	refundedCents int64
	// others are charge ids of further succeeded charges of the ref.
	others []string
}

func (m *moneyState) net() int64 {
	if !m.charged {
		return 0
	}
	return m.chargedCents - m.refundedCents
}

// NewReconciler returns an empty fold for the given saga definitions
// (flows.All() for the shipped ones).
func NewReconciler(defs saga.Definitions) *Reconciler {
	return NewReconcilerWith(saga.NewMachine(defs))
}

// NewReconcilerWith is NewReconciler folding with m, and the definitions
// it knows.
func NewReconcilerWith(m saga.Machine) *Reconciler {
	return &Reconciler{sagas: NewSagasWith(m), Grace: DefaultGrace, seats: map[string]*seatsState{},
		money: map[string]*moneyState{}, notified: map[[2]string]bool{}}
}

// Sagas is the fold of the saga log the reconciler keeps.
func (r *Reconciler) Sagas() *Sagas { return r.sagas }

// Add folds one checked envelope of the saga log or of a service's log.
// Events that change nothing are skipped: an outcome other than succeeded,
// a payload that does not decode, user events, and anything that is not
// the next event of its saga (the saga fold skips what does not fit).
func (r *Reconciler) Add(e events.Envelope) {
	switch e.Type {
	case events.SeatsReserved, events.SeatsReleased, events.BookingConfirmed:
		r.addSeats(e)
	case events.PaymentCharged, events.PaymentRefunded:
		r.addMoney(e)
	case events.NotificationSent:
		p, err := events.Decode[events.NotificationSentV1](e)
		if err != nil || p.Outcome != events.OutcomeSucceeded {
			return
		}
		// As the notification service counts a purpose: by step, or by
		// text for events written before steps were recorded.
		what := p.Step
		if what == "" {
			what = p.Message
		}
		r.notified[[2]string{p.BookingRef, what}] = true
	case events.SeatsRejected, events.PaymentDeclined, events.UserVerified, events.UserRejected:
		// Refusals move neither seats nor money.
	default:
		r.sagas.Add(e)
	}
}

func (r *Reconciler) addSeats(e events.Envelope) {
	p, err := events.Decode[events.SeatsV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return
	}
	st := r.seats[p.BookingRef]
	if st == nil {
		st = &seatsState{show: p.ShowID}
		r.seats[p.BookingRef] = st
	}
	switch e.Type {
	case events.SeatsReserved:
		if !st.held && !st.released && p.Seats > 0 {
			st.held, st.seats, st.show = true, p.Seats, p.ShowID
		}
	case events.SeatsReleased:
		// Seats 0 means nothing was held: the release is a tombstone that
		// refuses a late reservation, which is a release all the same.
		st.held, st.confirmed, st.released = false, false, true
	case events.BookingConfirmed:
		if st.held {
			st.confirmed = true
		}
	}
}

func (r *Reconciler) addMoney(e events.Envelope) {
	p, err := events.Decode[events.PaymentV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return
	}
	m := r.money[p.BookingRef]
	if m == nil {
		m = &moneyState{}
		r.money[p.BookingRef] = m
	}
	switch e.Type {
	case events.PaymentCharged:
		switch {
		case !m.charged:
			m.charged, m.chargeID, m.chargedCents = true, p.ChargeID, p.AmountCents
		case p.ChargeID != m.chargeID && p.AmountCents > 0:
			// The same charge recorded again (another attempt of the
			// step) counts once; another charge id is money taken again.
			for _, id := range m.others {
				if id == p.ChargeID {
					return
				}
			}
			m.others = append(m.others, p.ChargeID)
		}
	case events.PaymentRefunded:
		// Amount 0 means nothing was refunded: a tombstone, no money moved.
		if p.AmountCents <= 0 || m.refunded {
			return
		}
		m.refunded, m.refundedCents = true, p.AmountCents
	}
}

// bookingSagas are the sagas of one booking ref.
type bookingSagas struct {
	book, cancel *saga.State
}

func (r *Reconciler) sagasOf(ref string) bookingSagas {
	var b bookingSagas
	for _, v := range r.sagas.ByRef(ref) { // oldest first: the latest wins
		s, _ := r.sagas.State(v.SagaID)
		switch r.sagas.Kind(s) {
		case KindBook:
			b.book = &s
		case KindCancel:
			b.cancel = &s
		case KindOther:
		}
	}
	return b
}

// inFlight reports whether a saga of the ref has not ended yet: the logs
// may disagree until it has.
func (b bookingSagas) inFlight() bool {
	return b.book != nil && !b.book.Status.Terminal() || b.cancel != nil && !b.cancel.Status.Terminal()
}

func (b bookingSagas) cancelled() bool {
	return b.cancel != nil && b.cancel.Status == saga.StatusCompleted
}

// stands reports whether the booking is completed and not cancelled.
func (b bookingSagas) stands() bool {
	return b.book != nil && b.book.Status == saga.StatusCompleted && !b.cancelled()
}

// why says why no booking stands.
func (b bookingSagas) why() string {
	switch {
	case b.book == nil && b.cancel == nil:
		return "no saga has this booking ref"
	case b.cancelled():
		return "the booking was cancelled (cancel-booking saga " + b.cancel.SagaID + " completed)"
	case b.book == nil:
		return "no book-ticket saga has this booking ref"
	default:
		return "its book-ticket saga ended " + string(b.book.Status)
	}
}

// sagaID names the saga a ref-level finding is about.
func (b bookingSagas) sagaID() string {
	if b.cancelled() {
		return b.cancel.SagaID
	}
	if b.book != nil {
		return b.book.SagaID
	}
	if b.cancel != nil {
		return b.cancel.SagaID
	}
	return ""
}

// Report lists where the logs disagree at now, ordered by kind, booking
// ref and saga. A booking ref with a saga still running is not judged:
// its services may not have caught up yet. An empty report means the logs
// agree.
func (r *Reconciler) Report(now time.Time) []Finding {
	out := []Finding{}
	refs := map[string]bool{}
	for ref := range r.seats {
		refs[ref] = true
	}
	for ref := range r.money {
		refs[ref] = true
	}
	for _, v := range r.sagas.List("") {
		refs[v.BookingRef] = true
	}
	for ref := range refs {
		out = append(out, r.judgeRef(ref)...)
	}
	for _, v := range r.sagas.List("") {
		s, _ := r.sagas.State(v.SagaID)
		out = append(out, r.judgeSaga(s, now)...)
	}
	sortFindings(out)
	return out
}

func (r *Reconciler) judgeRef(ref string) []Finding {
	var out []Finding
	b := r.sagasOf(ref)
	seats, money := r.seats[ref], r.money[ref]
	if money != nil && len(money.others) > 0 {
		out = append(out, Finding{Kind: KindChargedTwice, BookingRef: ref, SagaID: b.sagaID(),
			Detail: fmt.Sprintf("charged as %s and again as %s", money.chargeID, strings.Join(money.others, ", "))})
	}
	if b.inFlight() {
		return out
	}
	holds := seats != nil && seats.held
	net := int64(0)
	if money != nil {
		net = money.net()
	}
	if !b.stands() {
		if holds {
			out = append(out, Finding{Kind: KindSeatsWithoutBooking, BookingRef: ref, SagaID: b.sagaID(),
				Detail: fmt.Sprintf("%d seat(s) of %s held, but %s", seats.seats, seats.show, b.why())})
		}
		if net > 0 {
			out = append(out, Finding{Kind: KindChargeWithoutBooking, BookingRef: ref, SagaID: b.sagaID(),
				Detail: fmt.Sprintf("%s charged (%s) and not refunded, but %s", Cents(net), money.chargeID, b.why())})
		}
		return out
	}
	var missing []string
	if net <= 0 {
		if money != nil && money.refunded && money.charged {
			missing = append(missing, fmt.Sprintf("its charge %s was refunded", money.chargeID))
		} else {
			missing = append(missing, "it has no charge")
		}
	}
	if !holds {
		if seats != nil && seats.released {
			missing = append(missing, "its seats were released")
		} else {
			missing = append(missing, "it holds no seats")
		}
	}
	if len(missing) > 0 {
		out = append(out, Finding{Kind: KindBookingWithoutCharge, BookingRef: ref, SagaID: b.book.SagaID,
			Detail: "booking completed and not cancelled, but " + strings.Join(missing, " and ")})
	}
	return out
}

func (r *Reconciler) judgeSaga(s saga.State, now time.Time) []Finding {
	f := Finding{BookingRef: s.BookingRef, SagaID: s.SagaID}
	switch {
	case s.Status == saga.StatusFailed:
		f.Kind, f.Detail = KindSagaFailed, fmt.Sprintf("%s saga failed: %s", s.Definition, s.Reason)
		return []Finding{f}
	case s.Status.Terminal():
		return nil
	}
	if wake := s.NextWake(); !wake.IsZero() {
		if late := now.Sub(wake); late > r.Grace {
			f.Kind, f.Detail = KindSagaPastDeadline, fmt.Sprintf("%s saga %s: %s was due at %s, %s ago",
				s.Definition, s.Status, dueWhat(s, wake), wake.UTC().Format(time.RFC3339), late.Round(time.Second))
			return []Finding{f}
		}
		return nil
	}
	// Nothing in flight and nothing scheduled: nothing will move it on.
	if idle := now.Sub(s.UpdatedAt); idle > r.Grace {
		f.Kind, f.Detail = KindSagaPastDeadline, fmt.Sprintf("%s saga %s: nothing in flight or scheduled since %s, %s ago",
			s.Definition, s.Status, s.UpdatedAt.UTC().Format(time.RFC3339), idle.Round(time.Second))
		return []Finding{f}
	}
	return nil
}

// dueWhat names what was due at wake: a reply to a step's command, or a
// step's retry.
func dueWhat(s saga.State, wake time.Time) string {
	for _, st := range s.Steps {
		attempt, what := st.Attempt, "step"
		if st.Status == saga.StepCompensating {
			attempt, what = st.CompAttempt, "compensation of"
		}
		switch {
		case st.Deadline.Equal(wake) && st.CommandID != "":
			return fmt.Sprintf("the reply to %s %s (attempt %d)", what, st.Name, attempt)
		case st.RetryAt.Equal(wake):
			return fmt.Sprintf("the retry of %s %s (after attempt %d)", what, st.Name, attempt)
		}
	}
	return "its next step"
}

// Summary adds the logs up.
func (r *Reconciler) Summary() Summary {
	s := Summary{Sagas: map[string]int{}, SeatsHeld: map[string]int{}}
	for _, v := range r.sagas.List("") {
		s.Sagas[v.Status]++
	}
	for _, st := range r.seats {
		if st.held {
			s.SeatsHeld[st.show] += st.seats
		}
	}
	for _, m := range r.money {
		if m.charged {
			s.Charges++
			s.ChargedCents += m.chargedCents
		}
		if m.refunded && m.refundedCents > 0 {
			s.Refunds++
			s.RefundedCents += m.refundedCents
		}
	}
	s.NetCents = s.ChargedCents - s.RefundedCents
	s.NotificationsDelivered = len(r.notified)
	return s
}

// Settle keeps the findings that still hold given later, a fold of the saga
// log read again after the service logs were: a finding about a booking ref
// whose sagas moved on meanwhile (a saga started, or took a step) may only
// reflect logs read at different moments, so it is dropped. What remains
// was true over the whole read.
func (r *Reconciler) Settle(findings []Finding, later *Sagas) []Finding {
	out := []Finding{}
	for _, f := range findings {
		if signature(r.sagas, f.BookingRef, f.SagaID) == signature(later, f.BookingRef, f.SagaID) {
			out = append(out, f)
		}
	}
	return out
}

// signature names the sagas of a booking ref (or the one saga, without a
// ref) and how far each has got.
func signature(p *Sagas, ref, sagaID string) string {
	var parts []string
	add := func(id string) {
		if s, ok := p.State(id); ok {
			parts = append(parts, fmt.Sprintf("%s:%d", id, s.Seq))
		}
	}
	if ref == "" {
		add(sagaID)
	}
	for _, v := range p.ByRef(ref) {
		add(v.SagaID)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if kindRank[a.Kind] != kindRank[b.Kind] {
			return kindRank[a.Kind] < kindRank[b.Kind]
		}
		if a.BookingRef != b.BookingRef {
			return a.BookingRef < b.BookingRef
		}
		return a.SagaID < b.SagaID
	})
}

// Cents formats an amount of cents as units, e.g. 5000 as "50.00".
func Cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}
