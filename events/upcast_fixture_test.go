package events_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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
)

// The fixture is a log of record as the build before NotificationSent v2
// wrote it: every record at schema version 1. It is committed, never
// rewritten by an ordinary test run, and must keep replaying into today's
// read models whatever versions the types reach later.
//
//	go test ./events/ -run TestWriteV1Fixture -update-fixture
//
// writes it again (only worth doing if the sagas below change).
var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/v1_log.jsonl from the saga machine and the participant services")

const v1Fixture = "testdata/v1_log.jsonl"

// fixtureRecord is one line of the fixture: a Kafka record as stored.
type fixtureRecord struct {
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Headers   map[string]string `json:"headers"`
	Payload   json.RawMessage   `json:"payload"`
}

// The sagas of the fixture, by idempotency key.
const (
	keyCompleted = "v1-fixture-completed" // alice, 2 seats of show-1, tok_ok
	keyDeclined  = "v1-fixture-declined"  // bob, 2 seats of show-1, tok_declined
	keyCancelled = "v1-fixture-cancelled" // alice, 1 seat of show-small, then cancelled
	keyBounced   = "v1-fixture-bounced"   // carol, 1 seat of show-1: three bounced notifications
)

// v1Payloads turn a payload of a type's current version back into the
// version 1 the fixture records: for NotificationSent, v1 had no channel.
// A type whose current version passes 1 needs an entry here before the
// fixture can be written again.
var v1Payloads = map[events.Type]func(json.RawMessage) (json.RawMessage, error){
	events.NotificationSent: func(raw json.RawMessage) (json.RawMessage, error) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		if _, ok := obj["channel"]; !ok {
			return raw, nil // as the old build wrote it, field order and all
		}
		delete(obj, "channel")
		return json.Marshal(obj)
	},
}

// domainService is what the simulator needs of a participant service.
type domainService interface {
	Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error)
	Apply(e events.Envelope) error
}

// simulator runs sagas in memory as the orchestrator and participant
// runtimes do over Kafka: saga events are appended before the commands
// they ask for are delivered, a domain event is appended (keyed like its
// command) before its reply, and time moves on to deadlines and retries.
type simulator struct {
	t       *testing.T
	machine saga.Machine
	now     time.Time
	states  map[string]saga.State
	svcs    map[string]domainService
	log     []fixtureRecord
	offsets map[string]map[int32]int64
}

func newSimulator(t *testing.T) *simulator {
	return &simulator{
		t: t, machine: saga.NewMachine(flows.All()),
		now:    time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC),
		states: map[string]saga.State{},
		svcs: map[string]domainService{
			events.ServiceUser: user.New(demo.Catalog()), events.ServiceBooking: booking.New(demo.Catalog()),
			events.ServicePayment: payment.New(demo.Processor{}), events.ServiceNotification: notification.New(demo.Phones{}),
		},
		offsets: map[string]map[int32]int64{},
	}
}

func (s *simulator) advance(d time.Duration) { s.now = s.now.Add(d) }

// append writes e to topic as the v1 record the old build wrote.
func (s *simulator) append(topic string, e events.Envelope) {
	s.t.Helper()
	if e.Version != 1 {
		down, ok := v1Payloads[e.Type]
		if !ok {
			s.t.Fatalf("%s is at version %d: add its version 1 form to v1Payloads", e.Type, e.Version)
		}
		raw, err := down(e.Payload)
		if err != nil {
			s.t.Fatalf("%s back to version 1: %v", e.Type, err)
		}
		e.Payload, e.Version = raw, 1
	}
	h := map[string]string{
		events.HeaderID: e.ID, events.HeaderType: string(e.Type), events.HeaderVersion: strconv.Itoa(e.Version),
		events.HeaderOccurredAt: e.OccurredAt.UTC().Format(time.RFC3339Nano),
	}
	for k, v := range map[string]string{events.HeaderSagaID: e.SagaID, events.HeaderCorrelationID: e.CorrelationID,
		events.HeaderCausationID: e.CausationID, events.HeaderActor: e.Actor} {
		if v != "" {
			h[k] = v
		}
	}
	p := bus.FNV1a.Partition(e.Key, bus.DefaultPartitions)
	if s.offsets[topic] == nil {
		s.offsets[topic] = map[int32]int64{}
	}
	off := s.offsets[topic][p]
	s.offsets[topic][p]++
	var payload bytes.Buffer
	if err := json.Compact(&payload, e.Payload); err != nil {
		s.t.Fatalf("%s payload: %v", e.Type, err)
	}
	s.log = append(s.log, fixtureRecord{Topic: topic, Partition: p, Offset: off, Key: e.Key, Headers: h, Payload: payload.Bytes()})
}

// decide runs one input through the machine, appends the events and
// returns the commands they ask for, in order.
func (s *simulator) decide(sagaID string, in saga.Input) []saga.Outgoing {
	s.t.Helper()
	out, err := s.machine.Decide(s.states[sagaID], in, s.now)
	if err != nil {
		s.t.Fatalf("decide %T for %s: %v", in, sagaID, err)
	}
	var cmds []saga.Outgoing
	for _, e := range out {
		st, err := s.machine.Apply(s.states[sagaID], e)
		if err != nil {
			s.t.Fatalf("apply %s: %v", e.Type, err)
		}
		s.states[sagaID] = st
		s.append(events.TopicSagaLog, e)
		if o, ok := s.machine.Command(st, e); ok {
			cmds = append(cmds, o)
		}
	}
	return cmds
}

// deliver hands a command to its service and returns the reply.
func (s *simulator) deliver(o saga.Outgoing) (saga.Reply, bool) {
	s.t.Helper()
	name := strings.TrimSuffix(o.Topic, ".commands")
	svc := s.svcs[name]
	cmd, err := events.Check(o.Envelope)
	if err != nil {
		s.t.Fatalf("command %s: %v", o.Envelope.Type, err)
	}
	p := events.MustDecode[events.CommandV1](cmd)
	ev, ok, err := svc.Handle(cmd, p, s.now)
	if err != nil {
		s.t.Fatalf("%s handles %s: %v", name, cmd.Type, err)
	}
	if !ok {
		return saga.Reply{}, false
	}
	ev.Key = cmd.Key
	var h events.Handled
	if err := json.Unmarshal(ev.Payload, &h); err != nil {
		s.t.Fatalf("%s: %v", ev.Type, err)
	}
	s.append(events.DomainTopic(name), ev)
	if err := svc.Apply(ev); err != nil {
		s.t.Fatalf("%s applies %s: %v", name, ev.Type, err)
	}
	s.advance(3 * time.Millisecond)
	rp := events.StepReplyV1{CommandID: cmd.ID, Command: cmd.Type, Outcome: h.Outcome, Reason: h.Reason, Data: h.Reply}
	reply := events.MustNew(events.DerivedID(cmd.ID, "reply"), events.StepReply, rp, events.TraceOf(cmd), cmd.SagaID, s.now)
	return saga.Reply{Envelope: reply, Payload: rp}, true
}

// run starts a saga and drives it to its end.
func (s *simulator) run(def, key, ref, actor string, data events.BookingData) saga.State {
	s.t.Helper()
	sagaID := events.SagaIDFor(key)
	raw, _ := json.Marshal(data)
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: raw}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: actor}, sagaID, s.now)
	queue := s.decide(sagaID, saga.Start{Request: req, Payload: p})
	for range 100 {
		for len(queue) > 0 {
			o := queue[0]
			queue = queue[1:]
			s.advance(7 * time.Millisecond)
			if r, ok := s.deliver(o); ok {
				s.advance(2 * time.Millisecond)
				queue = append(queue, s.decide(sagaID, r)...)
			}
		}
		st := s.states[sagaID]
		if st.Status.Terminal() {
			s.advance(250 * time.Millisecond)
			return st
		}
		wake := st.NextWake()
		if wake.IsZero() {
			s.t.Fatalf("saga %s is %s with nothing to wait for", sagaID, st.Status)
		}
		if wake.After(s.now) {
			s.now = wake
		}
		queue = s.decide(sagaID, saga.Tick{})
	}
	s.t.Fatalf("saga %s did not end", sagaID)
	return saga.State{}
}

// book runs a book-ticket saga.
func (s *simulator) book(key, userID, show string, seats int, token string) saga.State {
	ref := events.BookingRefFor(events.SagaIDFor(key))
	return s.run(flows.BookTicket, key, ref, userID,
		events.BookingData{BookingRef: ref, UserID: userID, ShowID: show, Seats: seats, PaymentToken: token})
}

// cancel runs a cancel-booking saga for a completed booking, with the data
// `saga cancel` gives it.
func (s *simulator) cancel(booked saga.State) saga.State {
	var d events.BookingData
	if err := json.Unmarshal(booked.Data, &d); err != nil {
		s.t.Fatal(err)
	}
	data := events.BookingData{BookingRef: booked.BookingRef, UserID: d.UserID, ShowID: d.ShowID, Seats: d.Seats,
		AmountCents: d.AmountCents, ChargeID: d.ChargeID}
	return s.run(flows.CancelBooking, "cancel:"+booked.BookingRef, booked.BookingRef, d.UserID, data)
}

// TestWriteV1Fixture writes the fixture when -update-fixture is given.
func TestWriteV1Fixture(t *testing.T) {
	if !*updateFixture {
		t.Skip("run with -update-fixture to rewrite " + v1Fixture)
	}
	s := newSimulator(t)
	for _, c := range []struct {
		got  saga.State
		want saga.Status
	}{
		{s.book(keyCompleted, "alice", "show-1", 2, demo.TokenOK), saga.StatusCompleted},
		{s.book(keyDeclined, "bob", "show-1", 2, demo.TokenDeclined), saga.StatusCompensated},
		{s.book(keyBounced, demo.UserCarol, "show-1", 1, demo.TokenOK), saga.StatusCompleted},
	} {
		if c.got.Status != c.want {
			t.Fatalf("saga %s: %s, want %s", c.got.IdempotencyKey, c.got.Status, c.want)
		}
	}
	booked := s.book(keyCancelled, "alice", "show-small", 1, demo.TokenOK)
	if booked.Status != saga.StatusCompleted {
		t.Fatalf("booking to cancel: %s (%s)", booked.Status, booked.Reason)
	}
	if c := s.cancel(booked); c.Status != saga.StatusCompleted {
		t.Fatalf("cancellation: %s (%s)", c.Status, c.Reason)
	}

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range s.log {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(v1Fixture), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v1Fixture, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d records to %s", len(s.log), v1Fixture)
}

// readFixture reads the committed fixture, every line strictly.
func readFixture(t *testing.T) []fixtureRecord {
	t.Helper()
	f, err := os.Open(v1Fixture)
	if err != nil {
		t.Fatalf("%v (go test ./events/ -run TestWriteV1Fixture -update-fixture writes it)", err)
	}
	defer f.Close()
	var out []fixtureRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r fixtureRecord
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s:%d: %v", v1Fixture, n, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkFixtureRecord reads a record as every consumer does: headers first,
// then Check, which upcasts old versions.
func checkFixtureRecord(t *testing.T, r fixtureRecord) (raw, checked events.Envelope) {
	t.Helper()
	raw, err := events.FromHeaders("", r.Headers, r.Payload)
	if err != nil {
		t.Fatalf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err)
	}
	raw.Key = r.Key
	checked, err = events.Check(raw)
	if err != nil {
		t.Fatalf("%s/%d@%d %s v%d: %v", r.Topic, r.Partition, r.Offset, raw.Type, raw.Version, err)
	}
	return raw, checked
}

// The fixture is what it says: version 1 records of the logs of record,
// each partition's offsets dense from 0, keys where FNV-1a, the partitioner
// of the builds that wrote version 1, puts them.
func TestV1FixtureShape(t *testing.T) {
	recs := readFixture(t)
	if len(recs) < 50 {
		t.Fatalf("%d records, want a few complete sagas", len(recs))
	}
	logs := map[string]bool{events.TopicSagaLog: true}
	for _, s := range events.Services() {
		logs[events.DomainTopic(s)] = true
	}
	next := map[string]int64{}
	types := map[events.Type]int{}
	for _, r := range recs {
		if !logs[r.Topic] {
			t.Errorf("record of %s, which is not a log of record", r.Topic)
		}
		if r.Headers[events.HeaderVersion] != "1" {
			t.Errorf("%s/%d@%d: version %q, want 1", r.Topic, r.Partition, r.Offset, r.Headers[events.HeaderVersion])
		}
		if p := bus.FNV1a.Partition(r.Key, bus.DefaultPartitions); p != r.Partition {
			t.Errorf("%s@%d: key %q is on partition %d, want %d", r.Topic, r.Offset, r.Key, r.Partition, p)
		}
		tp := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
		if r.Offset != next[tp] {
			t.Errorf("%s: offset %d, want %d", tp, r.Offset, next[tp])
		}
		next[tp] = r.Offset + 1
		types[events.Type(r.Headers[events.HeaderType])]++
		if events.Type(r.Headers[events.HeaderType]) == events.NotificationSent && bytes.Contains(r.Payload, []byte(`"channel"`)) {
			t.Errorf("%s@%d: a version 1 NotificationSent with a channel: %s", r.Topic, r.Offset, r.Payload)
		}
	}
	for _, typ := range []events.Type{events.SagaStarted, events.SagaCompleted, events.SagaCompensated, events.StepFailed,
		events.StepCompensated, events.SeatsReserved, events.SeatsReleased, events.BookingConfirmed,
		events.PaymentCharged, events.PaymentDeclined, events.PaymentRefunded, events.NotificationSent, events.UserVerified} {
		if types[typ] == 0 {
			t.Errorf("the fixture has no %s", typ)
		}
	}
}

// TestV1FixtureReplaysIntoReadModels folds the version 1 log into today's
// read models: each record is checked (NotificationSent is upcast from
// version 1 to 2) and folded into the saga view, the seat inventory, the
// reconciler and the participant services' own state.
func TestV1FixtureReplaysIntoReadModels(t *testing.T) {
	recs := readFixture(t)
	sagas := projections.NewSagas(flows.All())
	inv := projections.NewInventory(demo.Shows())
	rec := projections.NewReconciler(flows.All())
	// The services fold their logs as the runtime does: one event per
	// command id (service.Once).
	bsvc, psvc, nsvc := booking.New(demo.Catalog()), payment.New(demo.Processor{}), notification.New(demo.Phones{})
	svcs := map[string]*service.Once{
		events.DomainTopic(events.ServiceUser): service.NewOnce(user.New(demo.Catalog())), events.DomainTopic(events.ServiceBooking): service.NewOnce(bsvc),
		events.DomainTopic(events.ServicePayment): service.NewOnce(psvc), events.DomainTopic(events.ServiceNotification): service.NewOnce(nsvc),
	}
	// Per topic and partition, in log order, the logs one after the other:
	// the order a reader of the logs meets them.
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	})
	notifications, last := 0, time.Time{}
	for _, r := range recs {
		raw, e := checkFixtureRecord(t, r)
		if e.Type == events.NotificationSent {
			notifications++
			if raw.Version != 1 || e.Version != 2 || e.Version != events.CurrentVersion(e.Type) {
				t.Errorf("NotificationSent read at version %d from %d, want 2 from 1", e.Version, raw.Version)
			}
			var p struct {
				Channel   string `json:"channel"`
				CommandID string `json:"command_id"`
				Message   string `json:"message"`
			}
			if err := json.Unmarshal(e.Payload, &p); err != nil || p.Channel != events.NotificationChannelEmail || p.CommandID == "" || p.Message == "" {
				t.Errorf("upcast NotificationSent = %s (%v), want the v1 fields and channel email", e.Payload, err)
			}
			if _, err := events.Decode[events.NotificationSentV2](e); err != nil {
				t.Errorf("decode upcast NotificationSent: %v", err)
			}
		} else if e.Version != raw.Version || !bytes.Equal(e.Payload, raw.Payload) {
			t.Errorf("%s changed on read: v%d %s -> v%d %s", e.Type, raw.Version, raw.Payload, e.Version, e.Payload)
		}
		if e.OccurredAt.After(last) {
			last = e.OccurredAt
		}
		switch r.Topic {
		case events.TopicSagaLog:
			sagas.Add(e)
		case events.DomainTopic(events.ServiceBooking):
			inv.Add(e)
		}
		if r.Topic != events.DomainTopic(events.ServiceUser) {
			rec.Add(e)
		}
		if svc := svcs[r.Topic]; svc != nil {
			if _, err := svc.Apply(e); err != nil {
				t.Errorf("%s applies %s: %v", r.Topic, e.Type, err)
			}
		}
	}
	if notifications < 5 {
		t.Errorf("%d NotificationSent records, want the bounces and the deliveries", notifications)
	}

	steps := func(v projections.SagaView) string {
		var out []string
		for _, s := range v.Steps {
			out = append(out, fmt.Sprintf("%s=%s/%d", s.Name, s.Status, s.Attempts))
		}
		return strings.Join(out, " ")
	}
	refOf := func(key string) string { return events.BookingRefFor(events.SagaIDFor(key)) }
	for _, c := range []struct {
		name, sagaID, def, status, steps, reason string
	}{
		{"completed", events.SagaIDFor(keyCompleted), flows.BookTicket, "completed",
			"VerifyUser=succeeded/1 ReserveSeats=succeeded/1 ChargePayment=succeeded/1 ConfirmBooking=succeeded/1 SendNotification=succeeded/1", ""},
		{"declined", events.SagaIDFor(keyDeclined), flows.BookTicket, "compensated",
			"VerifyUser=succeeded/1 ReserveSeats=compensated/1 ChargePayment=failed/1 ConfirmBooking=skipped/0 SendNotification=skipped/0", "card declined"},
		{"bounced", events.SagaIDFor(keyBounced), flows.BookTicket, "completed",
			"VerifyUser=succeeded/1 ReserveSeats=succeeded/1 ChargePayment=succeeded/1 ConfirmBooking=succeeded/1 SendNotification=succeeded/4", ""},
		{"booked then cancelled", events.SagaIDFor(keyCancelled), flows.BookTicket, "completed",
			"VerifyUser=succeeded/1 ReserveSeats=succeeded/1 ChargePayment=succeeded/1 ConfirmBooking=succeeded/1 SendNotification=succeeded/1", ""},
		{"cancellation", events.SagaIDFor("cancel:" + refOf(keyCancelled)), flows.CancelBooking, "completed",
			"RefundPayment=succeeded/1 ReleaseSeats=succeeded/1 NotifyCancelled=succeeded/1", ""},
	} {
		v, ok := sagas.Find(c.sagaID)
		if !ok {
			t.Errorf("%s: saga %s not in the view", c.name, c.sagaID)
			continue
		}
		if v.Definition != c.def || v.Status != c.status || !strings.Contains(v.Reason, c.reason) {
			t.Errorf("%s: %s %s (%q), want %s %s (%q)", c.name, v.Definition, v.Status, v.Reason, c.def, c.status, c.reason)
		}
		if got := steps(v); got != c.steps {
			t.Errorf("%s: steps\n got %s\nwant %s", c.name, got, c.steps)
		}
		if v.Events[0].Type != string(events.SagaStarted) || len(v.Events) < 5 {
			t.Errorf("%s: timeline %+v", c.name, v.Events)
		}
	}
	if all := sagas.List(""); len(all) != 5 {
		t.Errorf("%d sagas in the view, want 5", len(all))
	}
	// The cancelled booking's reference names the booking and then its
	// cancellation, whatever partitions they are on.
	if byRef := sagas.ByRef(refOf(keyCancelled)); len(byRef) != 2 || byRef[0].Definition != flows.BookTicket || byRef[1].Definition != flows.CancelBooking {
		t.Errorf("sagas of the cancelled booking: %+v", byRef)
	}

	// Seats: alice's 2 and carol's 1 stand on show-1; bob's were released;
	// show-small is whole again after the cancellation.
	for _, want := range []projections.ShowInventory{
		{ShowID: "show-1", Capacity: 100, Held: 3, Confirmed: 3, Available: 97},
		{ShowID: "show-small", Capacity: 2, Held: 0, Confirmed: 0, Available: 2},
	} {
		if got, ok := inv.Show(want.ShowID); !ok || got != want {
			t.Errorf("inventory of %s = %+v, want %+v", want.ShowID, got, want)
		}
	}

	// The logs agree, and add up.
	if fs := rec.Report(last.Add(time.Hour)); len(fs) != 0 {
		t.Errorf("reconcile findings: %+v", fs)
	}
	sum := rec.Summary()
	want := projections.Summary{
		Sagas:     map[string]int{"completed": 4, "compensated": 1},
		SeatsHeld: map[string]int{"show-1": 3},
		Charges:   3, ChargedCents: 2*2500 + 4000 + 2500,
		Refunds: 1, RefundedCents: 4000,
		NetCents:               2*2500 + 2500,
		NotificationsDelivered: 4,
	}
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Errorf("summary\n got %+v\nwant %+v", sum, want)
	}

	// The services rebuild their state from the same logs.
	if got := nsvc.Sent(demo.UserCarol); len(got) != 1 {
		t.Errorf("carol was sent %q, want one message after three bounces", got)
	}
	if got := nsvc.Sent("alice"); len(got) != 3 {
		t.Errorf("alice was sent %q, want the two bookings and the cancellation", got)
	}
	if bsvc.Held("show-1") != 3 || bsvc.Held("show-small") != 0 {
		t.Errorf("booking service holds %d of show-1 and %d of show-small, want 3 and 0", bsvc.Held("show-1"), bsvc.Held("show-small"))
	}
	if ref := refOf(keyCancelled); psvc.Charged(ref) != 4000 || psvc.Refunded(ref) != 4000 {
		t.Errorf("payment of %s: charged %d refunded %d, want 4000 and 4000", ref, psvc.Charged(ref), psvc.Refunded(ref))
	}
}
