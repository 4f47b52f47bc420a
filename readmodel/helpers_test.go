package readmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/participants/booking"
	"github.com/sagaflow/saga/participants/notification"
	"github.com/sagaflow/saga/participants/payment"
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/participants/user"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
)

// partitions of every simulated topic, as bus.Config's default.
const partitions = 4

// The topics the read models fold.
var (
	topicSagaLog  = events.TopicSagaLog
	topicBookings = events.DomainTopic(events.ServiceBooking)
	topicPayments = events.DomainTopic(events.ServicePayment)
	topicNotifies = events.DomainTopic(events.ServiceNotification)
	topicDLQ      = events.TopicDLQ
)

var machine = saga.NewMachine(flows.All())

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// sim runs sagas through the real state machine and the real participant
// services, with a controlled clock and random delivery: lost, repeated
// and late commands, timeouts and retries, duplicate appends of saga and
// domain events, cancellations, operator retries of failed sagas, and a
// few records that do not check. It keeps what each topic's partitions
// would hold, and the messages in the order they were published.
type sim struct {
	t     testing.TB
	rng   *rand.Rand
	seed  int64
	now   time.Time
	svcs  map[string]*service.Once
	sagas map[string]*simSaga
	order []string
	// logs[topic][partition] are the records of that partition.
	logs map[string][][]bus.Record
	// published lists every message in the order it was appended.
	published []published
	// letters are the records appended to the dead-letter topic.
	letters []bus.Record
	n       int
}

type published struct {
	topic string
	msg   *message.Message
}

type simSaga struct {
	s       saga.State
	pending []events.Envelope
}

func newSim(t testing.TB, seed int64) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewSource(seed)), seed: seed, now: t0.Add(time.Duration(seed) * time.Hour),
		svcs: map[string]*service.Once{
			events.ServiceUser: service.NewOnce(user.New(demo.Catalog())), events.ServiceBooking: service.NewOnce(booking.New(demo.Catalog())),
			events.ServicePayment: service.NewOnce(payment.New(demo.Processor{})), events.ServiceNotification: service.NewOnce(notification.New(demo.Phones{})),
		},
		sagas: map[string]*simSaga{}, logs: map[string][][]bus.Record{}}
	return s
}

// record is the Kafka record a published envelope becomes (bus.Marshaler).
func record(topic string, part int32, off int64, msg *message.Message, at time.Time) bus.Record {
	h := map[string]string{bus.HeaderID: msg.UUID}
	for k, v := range msg.Metadata {
		if k != bus.MetaKey {
			h[k] = v
		}
	}
	var key []byte
	if k := msg.Metadata.Get(bus.MetaKey); k != "" {
		key = []byte(k)
	}
	return bus.Record{Topic: topic, Partition: part, Offset: off, Key: key, Headers: h, Value: msg.Payload, Timestamp: at}
}

func (s *sim) appendMsg(topic string, msg *message.Message) {
	part := bus.PartitionFor(msg.Metadata.Get(bus.MetaKey), partitions)
	if msg.Metadata.Get(bus.MetaKey) == "" {
		part = int32(s.rng.Intn(partitions))
		msg.Metadata.Set(bus.MetaKey, fmt.Sprintf("p%d", part))
		part = bus.PartitionFor(msg.Metadata.Get(bus.MetaKey), partitions)
	}
	if s.logs[topic] == nil {
		s.logs[topic] = make([][]bus.Record, partitions)
	}
	off := int64(len(s.logs[topic][part]))
	s.logs[topic][part] = append(s.logs[topic][part], record(topic, part, off, msg, s.now))
	s.published = append(s.published, published{topic, msg})
}

// emit appends an envelope, sometimes twice (a retried append).
func (s *sim) emit(topic string, e events.Envelope) {
	s.appendMsg(topic, bus.ToMessage(e))
	if s.rng.Float64() < 0.03 {
		s.appendMsg(topic, bus.ToMessage(e))
	}
}

// garbage appends a record that does not check.
func (s *sim) garbage() {
	topic := []string{topicSagaLog, topicBookings, topicPayments}[s.rng.Intn(3)]
	var msg *message.Message
	switch s.rng.Intn(3) {
	case 0: // no type header
		msg = message.NewMessage(fmt.Sprintf("junk-%d-%d", s.seed, s.n), []byte(`{}`))
	case 1: // unknown type
		msg = message.NewMessage(fmt.Sprintf("junk-%d-%d", s.seed, s.n), []byte(`{"x":1}`))
		msg.Metadata.Set(events.HeaderType, "NoSuchEvent")
		msg.Metadata.Set(events.HeaderVersion, "1")
	default: // a known type with a payload that does not validate
		msg = message.NewMessage(fmt.Sprintf("junk-%d-%d", s.seed, s.n), []byte(`{"booking_ref":""}`))
		msg.Metadata.Set(events.HeaderType, string(events.SeatsReserved))
		msg.Metadata.Set(events.HeaderVersion, "1")
	}
	s.n++
	msg.Metadata.Set(bus.MetaKey, fmt.Sprintf("junk-%d", s.rng.Intn(10)))
	s.appendMsg(topic, msg)
}

// deadLetter appends a letter to the dead-letter topic as the poison
// middleware writes one: a saga's command (which holds its payment token),
// a message without an id that is not JSON, or a letter again of a
// message redriven before.
func (s *sim) deadLetter() {
	var msg *message.Message
	origin, at := events.TopicReplies, s.rng.Intn(1000)
	switch r := s.rng.Intn(4); {
	case r == 0 && len(s.letters) > 0:
		before := s.letters[s.rng.Intn(len(s.letters))]
		msg = message.NewMessage(before.Headers[bus.HeaderID], before.Value)
		msg.Metadata.Set(readmodel.HeaderRedrivenFromPartition, fmt.Sprint(before.Partition))
		msg.Metadata.Set(readmodel.HeaderRedrivenFromOffset, fmt.Sprint(before.Offset))
	case r == 1:
		msg = message.NewMessage("", []byte(fmt.Sprintf(`{not json "payment_token": "%s"`, simTokens[s.rng.Intn(len(simTokens))])))
		origin = events.TopicRequests
	default:
		var cmd *events.Envelope
		for _, id := range s.order {
			if ss := s.sagas[id]; len(ss.pending) > 0 {
				cmd = &ss.pending[s.rng.Intn(len(ss.pending))]
			}
		}
		if cmd == nil {
			msg = message.NewMessage(fmt.Sprintf("dead-%d-%d", s.seed, s.n), []byte(`{"x":1}`))
		} else {
			msg = bus.ToMessage(*cmd)
			origin = events.CommandTopic(events.ServicePayment)
		}
	}
	s.n++
	msg.Metadata.Set(readmodel.HeaderReason, fmt.Sprintf("malformed message: case %d", s.n))
	msg.Metadata.Set(bus.MetaTopic, origin)
	msg.Metadata.Set(bus.MetaPartition, fmt.Sprint(s.rng.Intn(partitions)))
	msg.Metadata.Set(bus.MetaOffset, fmt.Sprint(at))
	s.appendMsg(topicDLQ, msg)
	part := s.logs[topicDLQ]
	for _, p := range part {
		if len(p) > 0 && p[len(p)-1].Headers[readmodel.HeaderReason] == msg.Metadata.Get(readmodel.HeaderReason) {
			s.letters = append(s.letters, p[len(p)-1])
		}
	}
}

func (s *sim) tick(d time.Duration) { s.now = s.now.Add(time.Millisecond + d) }

// decide feeds an input to a saga and appends what it decides.
func (s *sim) decide(ss *simSaga, in saga.Input) {
	evs, err := machine.Decide(ss.s, in, s.now)
	if err != nil {
		s.t.Fatalf("seed %d: Decide(%T): %v", s.seed, in, err)
	}
	for _, e := range evs {
		s.emit(topicSagaLog, e)
		next, err := machine.Apply(ss.s, e)
		if err != nil {
			s.t.Fatalf("seed %d: Apply(%s): %v", s.seed, e.Type, err)
		}
		ss.s = next
		if c, ok := machine.Command(ss.s, e); ok {
			ss.pending = append(ss.pending, c.Envelope)
		}
	}
}

func (s *sim) start(def, key, ref, actor string, data events.BookingData) *simSaga {
	raw, _ := json.Marshal(data)
	id := events.SagaIDFor(key)
	if ss, ok := s.sagas[id]; ok {
		return ss
	}
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: raw}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p,
		events.Trace{SagaID: id, CorrelationID: ref, Actor: actor}, id, s.now)
	ss := &simSaga{}
	s.decide(ss, saga.Start{Request: req, Payload: p})
	s.sagas[id] = ss
	s.order = append(s.order, id)
	return ss
}

var (
	simUsers  = []string{"alice", "bob", demo.UserCarol, "mallory", "alice", "bob"}
	simShows  = []string{"show-1", "show-1", "show-small", "show-cancelled"}
	simTokens = []string{demo.TokenOK, demo.TokenOK, demo.TokenOK, demo.TokenDeclined, demo.TokenTimeout, demo.TokenRefundFails}
)

func (s *sim) startBooking() {
	key := fmt.Sprintf("order-%d-%d", s.seed, s.n)
	s.n++
	id := events.SagaIDFor(key)
	ref := events.BookingRefFor(id)
	u := simUsers[s.rng.Intn(len(simUsers))]
	d := events.BookingData{BookingRef: ref, UserID: u, ShowID: simShows[s.rng.Intn(len(simShows))],
		Seats: 1 + s.rng.Intn(4), PaymentToken: simTokens[s.rng.Intn(len(simTokens))]}
	s.start(flows.BookTicket, key, ref, u, d)
}

// startCancel cancels a random completed booking that has no cancellation.
func (s *sim) startCancel() {
	for range 5 {
		ss := s.sagas[s.order[s.rng.Intn(len(s.order))]]
		if ss.s.Definition != flows.BookTicket || ss.s.Status != saga.StatusCompleted {
			continue
		}
		var d events.BookingData
		_ = json.Unmarshal(ss.s.Data, &d)
		c := events.BookingData{BookingRef: d.BookingRef, UserID: d.UserID, ShowID: d.ShowID, Seats: d.Seats,
			AmountCents: d.AmountCents, ChargeID: d.ChargeID}
		s.start(flows.CancelBooking, "cancel:"+d.BookingRef, d.BookingRef, d.UserID, c)
		return
	}
}

// deliver hands one of the saga's commands to its service and the reply
// back to the saga. Commands are sometimes lost, sometimes delivered again.
func (s *sim) deliver(ss *simSaga) {
	i := s.rng.Intn(len(ss.pending))
	cmd := ss.pending[i]
	if s.rng.Float64() > 0.05 {
		ss.pending = append(ss.pending[:i], ss.pending[i+1:]...)
	}
	if s.rng.Float64() < 0.04 {
		return // lost
	}
	p := events.MustDecode[events.CommandV1](cmd)
	svcName := ""
	for _, svc := range events.Services() {
		if ok := commandOf(svc, cmd.Type); ok {
			svcName = svc
		}
	}
	svc := s.svcs[svcName]
	// As the runtime does: a command id answered before gets its reply
	// again, and nothing is written.
	a, err := svc.Handle(cmd, p, s.now)
	if err != nil {
		s.t.Fatalf("seed %d: %s handles %s: %v", s.seed, svcName, cmd.Type, err)
	}
	if a.Dropped {
		return // swallowed (the processor never answers)
	}
	if !a.Repeat {
		ev := a.Event
		ev.Key = cmd.Key
		s.emit(events.DomainTopic(svcName), ev)
		if _, err := svc.Apply(ev); err != nil {
			s.t.Fatalf("seed %d: %s applies %s: %v", s.seed, svcName, ev.Type, err)
		}
	}
	h := a.Reply
	r := events.StepReplyV1{CommandID: cmd.ID, Command: cmd.Type, Outcome: h.Outcome, Reason: h.Reason, Data: h.Reply}
	env := events.MustNew(events.DerivedID(cmd.ID, "reply"), events.StepReply, r, events.TraceOf(cmd), cmd.SagaID, s.now)
	s.decide(ss, saga.Reply{Envelope: env, Payload: r})
}

func commandOf(svc string, cmd events.Type) bool {
	switch cmd {
	case events.VerifyUser:
		return svc == events.ServiceUser
	case events.ReserveSeats, events.ReleaseSeats, events.ConfirmBooking:
		return svc == events.ServiceBooking
	case events.ChargePayment, events.RefundPayment:
		return svc == events.ServicePayment
	case events.SendNotification:
		return svc == events.ServiceNotification
	}
	return false
}

// run starts n booking sagas (and some cancellations) and drives every
// saga until it ends or the step budget runs out.
func (s *sim) run(n int) *sim {
	started := 0
	for step := 0; step < 400*n; step++ {
		s.tick(time.Duration(s.rng.Intn(300)) * time.Millisecond)
		if r := s.rng.Float64(); started < n && (r < 0.2 || len(s.order) == 0) {
			if len(s.order) > 0 && s.rng.Float64() < 0.25 {
				s.startCancel()
			} else {
				s.startBooking()
				started++
			}
			continue
		}
		if s.rng.Float64() < 0.004 {
			s.garbage()
		}
		if s.rng.Float64() < 0.004 {
			s.deadLetter()
		}
		active := s.active()
		if len(active) == 0 {
			if started >= n {
				break
			}
			continue
		}
		ss := active[s.rng.Intn(len(active))]
		switch {
		case ss.s.Status == saga.StatusFailed:
			req := events.MustNew(fmt.Sprintf("resume-%d-%d", s.seed, step), events.ResumeSaga, events.ResumeSagaV1{},
				events.Trace{SagaID: ss.s.SagaID, CorrelationID: ss.s.BookingRef, Actor: "operator"}, ss.s.SagaID, s.now)
			s.decide(ss, saga.Resume{Request: req, Reason: "fixed"})
		case len(ss.pending) > 0 && s.rng.Float64() < 0.9:
			s.deliver(ss)
		default:
			if w := ss.s.NextWake(); !w.IsZero() {
				if w.After(s.now) {
					s.now = w
				}
				s.decide(ss, saga.Tick{})
			} else if len(ss.pending) > 0 {
				s.deliver(ss)
			}
		}
	}
	return s
}

// active lists the sagas that have not ended, and the failed ones while
// an operator may still retry them.
func (s *sim) active() []*simSaga {
	var out []*simSaga
	for _, id := range s.order {
		ss := s.sagas[id]
		if !ss.s.Status.Terminal() || ss.s.Status == saga.StatusFailed && s.rng.Float64() < 0.02 {
			out = append(out, ss)
		}
	}
	return out
}

// records returns every record of the folded topics, partition by
// partition (the order bus.ReadAll delivers).
func (s *sim) records() []bus.Record {
	var out []bus.Record
	for _, topic := range []string{topicSagaLog, topicBookings, topicPayments, topicDLQ} {
		for _, part := range s.logs[topic] {
			out = append(out, part...)
		}
	}
	return out
}

// model is what the pure folds of package projections say of the records.
type model struct {
	sagas     *projections.Sagas
	inventory *projections.Inventory
	reconcile *projections.Reconciler
	money     map[string]*modelMoney
	letters   []bus.Record
	// service is every domain event by booking ref, once per event id.
	service map[string][]readmodel.ServiceEvent
	seen    map[string]bool
}

type modelMoney struct {
	charged       bool
	chargeID      string
	chargedCents  int64
	refunded      bool
	refundedCents int64
}

func checked(r bus.Record) (events.Envelope, bool) {
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		return e, false
	}
	if e.Key == "" {
		e.Key = string(r.Key)
	}
	e, err = events.Check(e)
	return e, err == nil
}

// fold folds records (per partition in offset order) with the pure folds.
// Topic names are taken through cfg (the namespace of a broker test).
func fold(cfg bus.Config, recs []bus.Record) *model {
	m := &model{sagas: projections.NewSagas(flows.All()), inventory: projections.NewInventory(demo.Shows()),
		reconcile: projections.NewReconciler(flows.All()), money: map[string]*modelMoney{},
		service: map[string][]readmodel.ServiceEvent{}, seen: map[string]bool{}}
	for _, r := range recs {
		if r.Topic == cfg.Topic(topicDLQ) {
			m.letters = append(m.letters, r)
			continue
		}
		e, ok := checked(r)
		if !ok {
			continue
		}
		for _, svc := range []string{events.ServiceUser, events.ServiceBooking, events.ServicePayment, events.ServiceNotification} {
			if r.Topic == cfg.Topic(events.DomainTopic(svc)) && e.CorrelationID != "" && !m.seen[e.ID] {
				m.seen[e.ID] = true
				m.service[e.CorrelationID] = append(m.service[e.CorrelationID],
					readmodel.ServiceEvent{ID: e.ID, Service: svc, Type: string(e.Type), Step: stepOfPayload(e), At: e.OccurredAt})
			}
		}
		switch r.Topic {
		case cfg.Topic(topicSagaLog):
			m.sagas.Add(e)
			m.reconcile.Add(e)
		case cfg.Topic(topicBookings):
			m.inventory.Add(e)
			m.reconcile.Add(e)
		case cfg.Topic(topicPayments):
			m.reconcile.Add(e)
			m.addMoney(e)
		case cfg.Topic(topicNotifies):
			m.reconcile.Add(e)
		}
	}
	return m
}

// addMoney is the simple model of money per booking ref: charged once,
// refunded once (projections.Reconciler's rules, which keep no per-ref
// view to compare with).
func (m *model) addMoney(e events.Envelope) {
	if e.Type != events.PaymentCharged && e.Type != events.PaymentRefunded {
		return
	}
	p, err := events.Decode[events.PaymentV1](e)
	if err != nil || p.Outcome != events.OutcomeSucceeded {
		return
	}
	mm := m.money[p.BookingRef]
	if mm == nil {
		mm = &modelMoney{}
		m.money[p.BookingRef] = mm
	}
	if e.Type == events.PaymentCharged && !mm.charged && !mm.refunded {
		mm.charged, mm.chargeID, mm.chargedCents = true, p.ChargeID, p.AmountCents
	}
	if e.Type == events.PaymentRefunded && !mm.refunded {
		mm.refunded, mm.refundedCents = true, p.AmountCents
	}
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sameJSON(t testing.TB, what string, got, want any) {
	t.Helper()
	if g, w := jsonOf(t, got), jsonOf(t, want); g != w {
		t.Fatalf("%s differs from the fold:\n got: %s\nwant: %s", what, clip(g), clip(w))
	}
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "..."
	}
	return s
}

// wantSagaRows is the saga list the fold gives.
func (m *model) wantSagaRows() []readmodel.SagaRow {
	out := []readmodel.SagaRow{}
	for _, v := range m.sagas.List("") {
		r := readmodel.SagaRow{SagaID: v.SagaID, BookingRef: v.BookingRef, Definition: v.Definition, Status: v.Status,
			Actor: v.Actor, Reason: v.Reason, StartedAt: v.StartedAt, LastEventAt: v.UpdatedAt}
		if v.Stuck != nil {
			r.Stuck, r.StuckStep = v.Stuck.Reason, v.Stuck.Step
		}
		for _, e := range v.Events {
			r.LastEventType = e.Type
			if e.Step != "" {
				r.CurrentStep = e.Step
			}
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.Before(out[j].StartedAt)
		}
		return out[i].SagaID < out[j].SagaID
	})
	return out
}

// wantBookings is every booking the fold gives, by booking ref.
func (m *model) wantBookings() map[string]readmodel.Booking {
	out := map[string]readmodel.Booking{}
	for _, v := range m.sagas.List("") {
		ref := v.BookingRef
		if _, done := out[ref]; done {
			continue
		}
		var book, cancel *projections.SagaView
		var timeline []readmodel.TimelineEvent
		for _, s := range m.sagas.ByRef(ref) {
			switch s.Definition {
			case flows.BookTicket:
				book = &s
			case flows.CancelBooking:
				cancel = &s
			}
			for _, e := range s.Events {
				timeline = append(timeline, readmodel.TimelineEvent{SagaID: s.SagaID, Seq: e.Seq, Type: e.Type, Step: e.Step, At: e.At})
			}
		}
		if book == nil {
			continue
		}
		var d events.BookingData
		_ = json.Unmarshal(book.Data, &d)
		b := readmodel.Booking{BookingRef: ref, SagaID: book.SagaID, Status: book.Status, UserID: d.UserID, ShowID: d.ShowID,
			Seats: d.Seats, AmountCents: d.AmountCents, StartedAt: book.StartedAt, UpdatedAt: book.UpdatedAt}
		if cancel != nil {
			b.CancelSagaID, b.CancelStatus = cancel.SagaID, cancel.Status
			if cancel.Status == string(saga.StatusCompleted) {
				b.Status = readmodel.StatusCancelled
			}
			if cancel.UpdatedAt.After(b.UpdatedAt) {
				b.UpdatedAt = cancel.UpdatedAt
			}
		}
		sort.SliceStable(timeline, func(i, j int) bool {
			a, c := timeline[i], timeline[j]
			if !a.At.Equal(c.At) {
				return a.At.Before(c.At)
			}
			if a.SagaID != c.SagaID {
				return a.SagaID < c.SagaID
			}
			return a.Seq < c.Seq
		})
		b.Timeline = timeline
		out[ref] = b
	}
	return out
}

// wantRevenue is the money per show the fold gives.
func (m *model) wantRevenue() []readmodel.ShowRevenue {
	show := map[string]string{}
	owner := map[string]string{}
	for _, v := range m.sagas.List("") {
		if v.Definition != flows.BookTicket {
			continue
		}
		var d events.BookingData
		_ = json.Unmarshal(v.Data, &d)
		if o, ok := owner[v.BookingRef]; !ok || v.SagaID < o {
			owner[v.BookingRef], show[v.BookingRef] = v.SagaID, d.ShowID
		}
	}
	per := map[string]*readmodel.ShowRevenue{}
	for ref, mm := range m.money {
		id := show[ref]
		r := per[id]
		if r == nil {
			r = &readmodel.ShowRevenue{ShowID: id}
			per[id] = r
		}
		if mm.charged {
			r.Charges++
			r.ChargedCents += mm.chargedCents
		}
		if mm.refunded {
			r.RefundedCents += mm.refundedCents
			if mm.refundedCents > 0 {
				r.Refunds++
			}
		}
		r.NetCents = r.ChargedCents - r.RefundedCents
	}
	out := []readmodel.ShowRevenue{}
	for _, r := range per {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ShowID < out[j].ShowID })
	return out
}

// assertMatches checks every read model against the fold.
func assertMatches(t testing.TB, db *readmodel.DB, m *model) {
	t.Helper()
	ctx := context.Background()

	rows, err := db.Sagas(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].AgeSeconds = 0
	}
	sameJSON(t, "saga list", rows, m.wantSagaRows())
	for _, status := range []string{"running", "compensating", "completed", "compensated", "failed", projections.StatusStuck} {
		got, err := db.Sagas(ctx, status)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(m.sagas.List(status)) {
			t.Fatalf("%d sagas %s, the fold has %d", len(got), status, len(m.sagas.List(status)))
		}
	}
	// The services' events of every booking ref (a sample in large logs).
	refs := slices.Sorted(maps.Keys(m.service))
	for i, ref := range refs {
		if i%max(1, len(refs)/500) != 0 {
			continue
		}
		got, err := db.ServiceEvents(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(m.service[ref])
		slices.SortStableFunc(want, func(a, b readmodel.ServiceEvent) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		sameJSON(t, "service events of "+ref, got, want)
	}
	if len(m.service) > 0 && len(refs) == 0 {
		t.Fatal("no booking ref with service events")
	}
	stuck, err := db.StuckCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantStuck := map[string]int{}
	for _, v := range m.sagas.List(projections.StatusStuck) {
		wantStuck[v.Definition]++
	}
	sameJSON(t, "stuck counts", stuck, wantStuck)
	// Every saga's full view (a sample of them in large logs).
	list := m.sagas.List("")
	every := max(1, len(list)/2000)
	for i, v := range list {
		if i%every != 0 {
			continue
		}
		for _, key := range []string{v.SagaID, v.BookingRef} {
			got, err := db.Saga(ctx, key)
			if err != nil {
				t.Fatalf("Saga(%s): %v", key, err)
			}
			want, _ := m.sagas.Find(key)
			sameJSON(t, "saga "+key, got, want)
		}
	}

	want := m.wantBookings()
	all, err := db.Bookings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(want) {
		t.Fatalf("%d bookings, the fold has %d", len(all), len(want))
	}
	users := map[string][]readmodel.Booking{}
	every = max(1, len(all)/2000)
	for i, b := range all {
		w, ok := want[b.BookingRef]
		if !ok {
			t.Fatalf("booking %s is not in the fold", b.BookingRef)
		}
		// The whole row as listed; with the timeline, a sample in large logs.
		sameJSON(t, "listed booking "+b.BookingRef, b, withoutTimeline(w))
		if i%every == 0 {
			got, err := db.Booking(ctx, b.BookingRef)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, "booking "+b.BookingRef, got, w)
		}
		w.Timeline, w.CancelSagaID, w.CancelStatus = nil, "", ""
		users[w.UserID] = append(users[w.UserID], w)
	}
	for u, wantUser := range users {
		got, err := db.UserBookings(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "bookings of "+u, got, wantUser)
	}

	inv, err := db.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "inventory", inv, m.inventory.Shows())

	rev, err := db.Revenue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "revenue", rev, m.wantRevenue())
	sum := m.reconcile.Summary()
	var charged, refunded int64
	var charges, refunds int
	for _, r := range rev {
		charged, refunded, charges, refunds = charged+r.ChargedCents, refunded+r.RefundedCents, charges+r.Charges, refunds+r.Refunds
	}
	if charged != sum.ChargedCents || refunded != sum.RefundedCents || charges != sum.Charges || refunds != sum.Refunds {
		t.Fatalf("revenue totals charged %d (%d) refunded %d (%d), reconciler says charged %d (%d) refunded %d (%d)",
			charged, charges, refunded, refunds, sum.ChargedCents, sum.Charges, sum.RefundedCents, sum.Refunds)
	}

	// The reconciliation restored from the read model is the fold's.
	restored, err := db.Reconciliation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := t0.Add(24 * time.Hour)
	sameJSON(t, "reconciliation", restored.Report(at), m.reconcile.Report(at))
	sameJSON(t, "reconciliation summary", restored.Summary(), sum)

	assertLetters(t, db, m)
}

// wantLetters is every dead letter, oldest first, payload redacted.
func (m *model) wantLetters() []readmodel.DeadLetter {
	out := make([]readmodel.DeadLetter, 0, len(m.letters))
	for _, r := range m.letters {
		d := readmodel.LetterOf(r, "")
		d.Payload = events.Redact(d.Payload)
		d.DeadAt = d.DeadAt.UTC()
		out = append(out, d)
	}
	readmodel.SortLetters(out)
	return out
}

// assertLetters: the dead letters listed a page at a time are the fold's,
// the latest letter of an id is found by it, and no payload holds a
// payment token.
func assertLetters(t testing.TB, db *readmodel.DB, m *model) {
	t.Helper()
	ctx := context.Background()
	want := m.wantLetters()
	got := []readmodel.DeadLetter{}
	var after *readmodel.LetterCursor
	for pages := 0; ; pages++ {
		page, next, err := db.DeadLetters(ctx, "", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 7 || next != nil && len(page) != 7 || pages > len(want) {
			t.Fatalf("page %d: %d letters, next %v", pages, len(page), next)
		}
		got = append(got, page...)
		if next == nil {
			break
		}
		after = next
	}
	sameJSON(t, "dead letters", got, want)
	latest := map[string]readmodel.DeadLetter{}
	for _, d := range want {
		latest[d.ID] = d
		for _, tok := range simTokens {
			if strings.Contains(string(d.Payload), tok) {
				t.Fatalf("dead letter %s keeps payment token %q: %s", d.ID, tok, d.Payload)
			}
		}
	}
	for id, w := range latest {
		d, err := db.DeadLetter(ctx, "", id)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "latest dead letter "+id, d, w)
	}
	if _, err := db.DeadLetter(ctx, "", "no-such-letter"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Fatalf("DeadLetter of an unknown id: %v", err)
	}
}

func withoutTimeline(b readmodel.Booking) readmodel.Booking {
	b.Timeline = nil
	return b
}

func openDB(t testing.TB) *readmodel.DB {
	t.Helper()
	db, err := readmodel.Open(context.Background(), filepath.Join(t.TempDir(), readmodel.FileName), readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sourcesOf groups records of the topics a projection reads by partition.
func sourcesOf(recs []bus.Record, topics ...string) [][]bus.Record {
	by := map[[2]any][]bus.Record{}
	var keys [][2]any
	for _, r := range recs {
		ok := false
		for _, t := range topics {
			ok = ok || r.Topic == t
		}
		if !ok {
			continue
		}
		k := [2]any{r.Topic, r.Partition}
		if _, seen := by[k]; !seen {
			keys = append(keys, k)
		}
		by[k] = append(by[k], r)
	}
	out := make([][]bus.Record, len(keys))
	for i, k := range keys {
		out[i] = by[k]
	}
	return out
}

// projectionTopics are the topics each projection folds.
var projectionTopics = map[string][]string{
	readmodel.ProjectionSagas:     {topicSagaLog},
	readmodel.ProjectionBookings:  {topicSagaLog},
	readmodel.ProjectionInventory: {topicBookings},
	readmodel.ProjectionRevenue:   {topicPayments, topicSagaLog},
	readmodel.ProjectionShows:     {topicBookings},
	readmodel.ProjectionReconcile: {topicBookings, topicPayments, topicNotifies},
	readmodel.ProjectionDLQ:       {topicDLQ},
	readmodel.ProjectionTimeline:  {events.DomainTopic(events.ServiceUser), topicBookings, topicPayments, topicNotifies},
}

// feed applies the records of every projection in a random interleaving
// of their partitions (each in offset order), in random batch sizes, and
// sometimes hands a batch records it applied before (a redelivery).
func feed(t testing.TB, rng *rand.Rand, db *readmodel.DB, recs []bus.Record) {
	t.Helper()
	ctx := context.Background()
	for _, name := range readmodel.Names() {
		srcs := sourcesOf(recs, projectionTopics[name]...)
		pos := make([]int, len(srcs))
		var last []bus.Record
		for {
			var left []int
			for i := range srcs {
				if pos[i] < len(srcs[i]) {
					left = append(left, i)
				}
			}
			if len(left) == 0 {
				break
			}
			size := 1 + rng.Intn(1+rng.Intn(300))
			var batch []bus.Record
			if len(last) > 0 && rng.Float64() < 0.15 {
				batch = append(batch, last[rng.Intn(len(last)):]...)
			}
			for len(batch) < size && len(left) > 0 {
				k := rng.Intn(len(left))
				i := left[k]
				n := min(1+rng.Intn(20), len(srcs[i])-pos[i])
				batch = append(batch, srcs[i][pos[i]:pos[i]+n]...)
				pos[i] += n
				if pos[i] == len(srcs[i]) {
					left = append(left[:k], left[k+1:]...)
				}
			}
			if _, err := db.Apply(ctx, bus.Config{}, name, batch); err != nil {
				t.Fatalf("Apply %s: %v", name, err)
			}
			last = batch
		}
	}
}

// stepOfPayload is the "step" a domain event's payload names, if any.
func stepOfPayload(e events.Envelope) string {
	var p struct {
		Step string `json:"step"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.Step
}
