package orchestrator

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestSnapshotCodecRoundTrip(t *testing.T) {
	full := saga.State{SagaID: "0d6f8c8e-1b1e-5a55-9c1e-6c4c4a0f0a01", Definition: flows.BookTicket, BookingRef: "BK-1",
		IdempotencyKey: "key-1", Actor: "alice", Status: saga.StatusCompensating, Data: json.RawMessage(`{"a":1,"b":"x"}`),
		Steps: []saga.StepState{
			{Name: "VerifyUser", Status: saga.StepSucceeded, Attempt: 1, StartedAt: t0, EndedAt: t0.Add(time.Second)},
			{Name: "ReserveSeats", Status: saga.StepFailedStatus, Attempt: 3, Uncertain: true, Reason: "no reply within 10s",
				RetryAt: t0.Add(time.Minute), StartedAt: t0, EndedAt: t0.Add(2 * time.Second)},
			{Name: "ChargePayment", Status: saga.StepCompensating, Attempt: 2, CompAttempt: 7, CommandID: "cmd-1",
				Deadline: t0.Add(time.Hour)},
			{Name: "Other", Status: saga.StepStatus("a status from elsewhere")},
		},
		Seq: 42, StartedAt: t0, UpdatedAt: t0.Add(3 * time.Second), Reason: "ReserveSeats failed: sold out"}
	zoned := full
	zoned.SagaID, zoned.UpdatedAt = "zoned", t0.In(time.FixedZone("", 2*3600))
	tests := []struct {
		name string
		s    snapshot
	}{
		{"empty", snapshot{}},
		{"header only", snapshot{Partition: 3, Partitions: 8, Covers: 1 << 40, LastID: "ev-1", TakenAt: t0}},
		{"zero state", snapshot{Running: []saga.State{{}}}},
		{"every field", snapshot{Partition: 1, Partitions: 4, Covers: 99, LastID: "x", TakenAt: t0, Running: []saga.State{full}}},
		{"empty steps and data", snapshot{Running: []saga.State{{SagaID: "s", Steps: []saga.StepState{}, Data: json.RawMessage{}}}}},
		{"zoned time", snapshot{Running: []saga.State{zoned}}},
		{"ended", snapshot{Ended: []endedSaga{{"a", saga.StatusCompleted}, {"b", saga.StatusCompensated}, {"c", saga.StatusFailed}, {"d", "odd"}}}},
		{"both", snapshot{Running: []saga.State{full, {SagaID: "y", Status: saga.StatusRunning}}, Ended: []endedSaga{{"a", saga.StatusCompleted}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSnapshot(encodeSnapshot(&tt.s))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.s
			if want.Running == nil {
				want.Running = []saga.State{}
			}
			if want.Ended == nil {
				want.Ended = []endedSaga{}
			}
			if tt.name == "zoned time" {
				// The instant and the offset are kept; the zone is a fixed one.
				if !got.Running[0].UpdatedAt.Equal(want.Running[0].UpdatedAt) || got.Running[0].UpdatedAt.Format(time.RFC3339Nano) != want.Running[0].UpdatedAt.Format(time.RFC3339Nano) {
					t.Fatalf("time %v, want %v", got.Running[0].UpdatedAt, want.Running[0].UpdatedAt)
				}
				got.Running[0].UpdatedAt = want.Running[0].UpdatedAt
			}
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

// Every field of a saga's state and of its steps survives a round trip:
// a field added to saga.State without its encoding fails here.
func TestSnapshotCodecCoversEveryField(t *testing.T) {
	var st saga.State
	fill(t, reflect.ValueOf(&st).Elem(), 1)
	s := snapshot{Running: []saga.State{st}, Ended: []endedSaga{}}
	got, err := decodeSnapshot(encodeSnapshot(&s))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Running, s.Running) {
		t.Fatalf("round trip lost a field:\n got %+v\nwant %+v", got.Running[0], st)
	}
}

// fill sets every field of v to a value that is not its zero value.
func fill(t *testing.T, v reflect.Value, n int) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(t0.Add(time.Duration(n) * time.Minute)))
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))))
	case v.Kind() == reflect.String:
		v.SetString(fmt.Sprintf("value %d", n))
	case v.Kind() == reflect.Int:
		v.SetInt(int64(n))
	case v.Kind() == reflect.Bool:
		v.SetBool(true)
	case v.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(t, v.Index(i), n*10+i)
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			fill(t, v.Field(i), n*100+i)
		}
	default:
		t.Fatalf("fill: no value for %s (%s): teach the snapshot codec and this test about it", v.Type(), v.Kind())
	}
}

// Corrupt input is an error, never a panic or a huge allocation.
func TestSnapshotDecodeRefusesCorruptInput(t *testing.T) {
	s := snapshot{Partition: 1, Partitions: 2, Covers: 10, LastID: "x", TakenAt: t0,
		Running: genStates(t, 3), Ended: []endedSaga{{"a", saga.StatusCompleted}}}
	b := encodeSnapshot(&s)
	for n := range len(b) {
		if _, err := decodeSnapshot(b[:n]); err == nil {
			t.Fatalf("decoded a snapshot cut at %d of %d bytes", n, len(b))
		}
	}
	if _, err := decodeSnapshot(append(b, 0)); err == nil {
		t.Fatal("decoded a snapshot with a byte after its end")
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		c := append([]byte(nil), b...)
		for range 1 + rnd.IntN(4) {
			c[rnd.IntN(len(c))] ^= byte(1 + rnd.IntN(255))
		}
		_, _ = decodeSnapshot(c) // must not panic
	}
}

func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(encodeSnapshot(&snapshot{Running: []saga.State{{SagaID: "a", Steps: []saga.StepState{{Name: "x"}}}}, Ended: []endedSaga{{"b", saga.StatusCompleted}}}))
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if again, err := decodeSnapshot(encodeSnapshot(s)); err != nil || !reflect.DeepEqual(again.Running, s.Running) || !reflect.DeepEqual(again.Ended, s.Ended) {
			t.Fatalf("re-encoding changed it: %v", err)
		}
	})
}

// The property snapshots rest on: the sagas folded from a log equal those
// loaded from a snapshot of the log up to any offset plus the fold of the
// rest, whatever the log holds (retries, compensations, failed and resumed
// sagas, duplicated appends, unreadable records).
func TestFoldFromSnapshotEqualsFullFold(t *testing.T) {
	o := testOrchestrator()
	seen := map[saga.Status]int{}
	for seed := range uint64(40) {
		g := newLogGen(seed)
		g.run(30, 400)
		recs := g.records()
		want := o.foldAll(recs)
		for _, st := range want.running {
			seen[st.Status]++
		}
		for _, st := range want.ended {
			seen[st]++
		}
		// The orchestrator's own store (states as Decide left them) is what
		// the fold gives: the snapshots the tick loop takes are of it.
		if !reflect.DeepEqual(want.running, g.running()) {
			t.Fatalf("seed %d: the fold differs from the states decided", seed)
		}
		rnd := rand.New(rand.NewPCG(seed, 7))
		cuts := []int{0, 1, len(recs) / 2, len(recs)}
		for range 8 {
			cuts = append(cuts, rnd.IntN(len(recs)+1))
		}
		for _, cut := range cuts {
			before := o.foldAll(recs[:cut])
			snap := before.capture(0, 1, t0)
			snap.Covers = int64(cut)
			decoded, err := decodeSnapshot(encodeSnapshot(snap))
			if err != nil {
				t.Fatal(err)
			}
			got := newShard()
			got.load(decoded)
			for _, r := range recs[cut:] {
				o.foldRecord(t.Context(), got, r)
			}
			if !reflect.DeepEqual(got.running, want.running) || !reflect.DeepEqual(got.ended, want.ended) {
				t.Fatalf("seed %d, snapshot at %d of %d records: %d running, %d ended; the full fold has %d and %d",
					seed, cut, len(recs), len(got.running), len(got.ended), len(want.running), len(want.ended))
			}
		}
	}
	for _, st := range []saga.Status{saga.StatusRunning, saga.StatusCompensating, saga.StatusCompleted, saga.StatusCompensated, saga.StatusFailed} {
		if seen[st] == 0 {
			t.Errorf("no saga ended %s: the generated logs miss a case (%v)", st, seen)
		}
	}
}

func testOrchestrator() *Orchestrator {
	cfg := Config{Bus: bus.Config{Brokers: []string{"unused:9092"}}, Log: zerolog.Nop(), Definitions: genMachineDefs()}
	o, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return o
}

func (o *Orchestrator) foldAll(recs []bus.Record) *shard {
	sh := newShard()
	for _, r := range recs {
		o.foldRecord(context.Background(), sh, r)
	}
	return sh
}

func genStates(t *testing.T, n int) []saga.State {
	g := newLogGen(99)
	g.run(n, 10*n)
	var out []saga.State
	for _, s := range g.states {
		out = append(out, s)
	}
	return out
}

// logGen writes saga logs the way the orchestrator does: book-ticket
// sagas decided by the machine on random replies and the passing of time,
// their events interleaved, some appended twice.
type logGen struct {
	m      saga.Machine
	rnd    *rand.Rand
	now    time.Time
	seed   uint64
	states map[string]saga.State
	ids    []string
	log    []events.Envelope
	// junk marks log positions after which an unreadable record goes.
	junk map[int]bool
}

// genTimings give up after two attempts, so that sagas fail for good too.
var genTimings = flows.Timings{StepTimeout: 10 * time.Second,
	StepRetry:         saga.RetryPolicy{MaxAttempts: 2, Backoff: time.Second, MaxBackoff: 5 * time.Second},
	CompensationRetry: saga.RetryPolicy{MaxAttempts: 2, Backoff: time.Second, MaxBackoff: 5 * time.Second}}

func genMachine() saga.Machine { return saga.NewMachine(genMachineDefs()) }

func genMachineDefs() saga.Definitions {
	defs, err := flows.AllWith(genTimings)
	if err != nil {
		panic(err)
	}
	return defs
}

func newLogGen(seed uint64) *logGen {
	return &logGen{m: genMachine(), rnd: rand.New(rand.NewPCG(seed, 1)), now: t0, seed: seed,
		states: map[string]saga.State{}, junk: map[int]bool{}}
}

// run starts up to sagas sagas and takes steps decisions.
func (g *logGen) run(sagas, steps int) {
	for range steps {
		switch r := g.rnd.IntN(100); {
		case r < 15 && len(g.ids) < sagas:
			g.start()
		case r < 70:
			g.reply()
		case r < 85:
			g.now = g.now.Add(time.Duration(g.rnd.IntN(12000)) * time.Millisecond)
			g.tick()
		case r < 88:
			g.resume()
		case r < 97:
			g.duplicate()
		default:
			g.junk[len(g.log)] = true
		}
	}
}

func (g *logGen) decide(id string, in saga.Input) {
	d, err := g.m.Next(g.states[id], in, g.now)
	if err != nil {
		panic(err)
	}
	g.log = append(g.log, d.Events...)
	if len(d.Events) > 0 {
		g.states[d.State.SagaID] = d.State
	}
}

func (g *logGen) start() {
	key := fmt.Sprintf("gen-%d-%d", g.seed, len(g.ids))
	id := events.SagaIDFor(key)
	ref := events.BookingRefFor(id)
	data, _ := json.Marshal(events.BookingData{BookingRef: ref, UserID: "alice", ShowID: "show-1", Seats: 1 + g.rnd.IntN(4), PaymentToken: "tok_visa"})
	p := events.StartSagaV1{Definition: flows.BookTicket, IdempotencyKey: key, BookingRef: ref, Data: data}
	req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga, p, events.Trace{SagaID: id, CorrelationID: ref, Actor: "alice"}, id, g.now)
	g.ids = append(g.ids, id)
	g.decide(id, saga.Start{Request: req, Payload: p})
}

func (g *logGen) pick() (string, saga.State, bool) {
	if len(g.ids) == 0 {
		return "", saga.State{}, false
	}
	id := g.ids[g.rnd.IntN(len(g.ids))]
	return id, g.states[id], true
}

func (g *logGen) reply() {
	id, s, ok := g.pick()
	if !ok || s.Status.Terminal() {
		return
	}
	def, _ := g.m.Definition(s.Definition)
	for i, st := range s.Steps {
		if st.CommandID == "" {
			continue
		}
		p := events.StepReplyV1{CommandID: st.CommandID, Command: def.Steps[i].Command, Outcome: events.OutcomeSucceeded}
		switch r := g.rnd.IntN(100); {
		case st.Status == saga.StepCompensating:
			p.Command = def.Steps[i].Compensation
			if r < 35 {
				p.Outcome, p.Reason = events.OutcomeFailed, "refused"
			}
		case r < 15:
			p.Outcome, p.Reason = events.OutcomeFailed, "refused"
		case r < 30:
			p.Outcome, p.Reason = events.OutcomeRetryable, "busy"
		case r < 60:
			p.Data = json.RawMessage(fmt.Sprintf(`{"amount_cents":%d,"note":"<&>"}`, r))
		}
		env := events.MustNew(events.DerivedID(st.CommandID, "reply:"+p.Outcome), events.StepReply, p,
			events.Trace{SagaID: id, CorrelationID: s.BookingRef, CausationID: st.CommandID, Actor: s.Actor}, id, g.now)
		g.decide(id, saga.Reply{Envelope: env, Payload: p})
		return
	}
}

func (g *logGen) tick() {
	if id, _, ok := g.pick(); ok {
		g.decide(id, saga.Tick{})
	}
}

func (g *logGen) resume() {
	id, s, ok := g.pick()
	if !ok || s.Status != saga.StatusFailed {
		return
	}
	req := events.MustNew(events.DerivedID(id, fmt.Sprint("resume", s.Seq)), events.ResumeSaga, events.ResumeSagaV1{Reason: "fixed"},
		events.Trace{SagaID: id, Actor: "ops"}, id, g.now)
	g.decide(id, saga.Resume{Request: req, Reason: "fixed"})
}

// duplicate appends an event again, as a retried append does.
func (g *logGen) duplicate() {
	if len(g.log) > 0 {
		g.log = append(g.log, g.log[g.rnd.IntN(len(g.log))])
	}
}

// records are the log as Kafka records, unreadable ones among them.
func (g *logGen) records() []bus.Record {
	var out []bus.Record
	add := func(r bus.Record) {
		r.Offset = int64(len(out))
		out = append(out, r)
	}
	for i, e := range g.log {
		if g.junk[i] {
			add(bus.Record{Headers: map[string]string{"id": fmt.Sprint("junk-", i)}, Value: []byte("{")})
		}
		add(eventRecord(e))
	}
	return out
}

// eventRecord is the record the orchestrator's publisher writes for e.
func eventRecord(e events.Envelope) bus.Record {
	msg := bus.ToMessage(e)
	h := map[string]string{bus.HeaderID: msg.UUID}
	for k, v := range msg.Metadata {
		if k != bus.MetaKey {
			h[k] = v
		}
	}
	return bus.Record{Key: []byte(e.Key), Headers: h, Value: msg.Payload}
}

// running are the sagas the generator decided that have not ended, or failed.
func (g *logGen) running() map[string]saga.State {
	out := map[string]saga.State{}
	for id, s := range g.states {
		if !s.Status.Terminal() || s.Status == saga.StatusFailed {
			out[id] = s
		}
	}
	return out
}

// benchShard is a partition's share of the 1M-event bench history: 2500
// running sagas and 21000 ended ones.
func benchShard(b *testing.B) *shard {
	g := newLogGen(5)
	g.run(200, 3000)
	var states []saga.State
	for _, s := range g.states {
		if !s.Status.Terminal() {
			states = append(states, s)
		}
	}
	sh := newShard()
	for i := range 2500 {
		s := states[i%len(states)]
		s.SagaID = events.SagaIDFor(fmt.Sprint("bench-running-", i))
		sh.running[s.SagaID] = s
	}
	for i := range 21000 {
		sh.ended[events.SagaIDFor(fmt.Sprint("bench-ended-", i))] = saga.StatusCompleted
	}
	return sh
}

// BenchmarkSnapshotCapture is what the tick lock is held for, besides
// reading the high-water mark.
func BenchmarkSnapshotCapture(b *testing.B) {
	sh := benchShard(b)
	b.ReportAllocs()
	for b.Loop() {
		sh.capture(0, 4, t0)
	}
}

// BenchmarkSnapshotCodec compares the snapshot encoding with encoding/json
// and encoding/gob on the same snapshot.
func BenchmarkSnapshotCodec(b *testing.B) {
	s := benchShard(b).capture(0, 4, t0)
	s.Covers, s.LastID = 250_000, "x"
	codecs := []struct {
		name   string
		encode func(*snapshot) []byte
		decode func([]byte) error
	}{
		{"binary", encodeSnapshot, func(raw []byte) error { _, err := decodeSnapshot(raw); return err }},
		{"json", func(s *snapshot) []byte { raw, _ := json.Marshal(s); return raw },
			func(raw []byte) error { var s snapshot; return json.Unmarshal(raw, &s) }},
		{"gob", func(s *snapshot) []byte {
			var buf bytes.Buffer
			_ = gob.NewEncoder(&buf).Encode(s)
			return buf.Bytes()
		}, func(raw []byte) error { var s snapshot; return gob.NewDecoder(bytes.NewReader(raw)).Decode(&s) }},
	}
	for _, c := range codecs {
		raw := c.encode(s)
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				c.encode(s)
			}
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := c.decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Snapshots written before the watchdog (format 1, without its fields)
// and before definition versions (format 2) still load: their sagas have
// not been reported, and run by their definition's first version.
func TestSnapshotOfEarlierFormatsLoads(t *testing.T) {
	st := saga.State{SagaID: "a", Definition: "book-ticket", Status: saga.StatusRunning, Seq: 3, StartedAt: t0,
		Steps: []saga.StepState{{Name: "VerifyUser", Status: saga.StepRunning, Attempt: 1, StartedAt: t0}}}
	v4 := encodeSnapshot(&snapshot{Running: []saga.State{st}, Ended: []endedSaga{}})
	if v4[len(snapshotMagic)] != 4 || !bytes.Equal(v4[len(v4)-7:], []byte{0, 0, 0, 0, 0, 0, 0}) {
		t.Fatalf("setup: format %d ending %v", v4[len(snapshotMagic)], v4[len(v4)-7:])
	}
	body := v4[len(snapshotMagic)+1 : len(v4)-1] // without the ended sagas' count
	// Format 3 is format 4 without the steps' compensation start times (a
	// zero time, a byte, for the one step); format 2 is also without the
	// definition version (an empty string, a byte); format 1 is also
	// without the four watchdog fields (two empty strings and two zero
	// times, a byte each).
	for _, c := range []struct {
		format byte
		cut    int
	}{{3, 1}, {2, 2}, {1, 6}} {
		old := append([]byte(snapshotMagic+string(rune(c.format))), body[:len(body)-c.cut]...)
		old = append(old, 0)
		got, err := decodeSnapshot(old)
		if err != nil || !reflect.DeepEqual(got.Running, []saga.State{st}) {
			t.Fatalf("format %d: %v\n got %+v\nwant %+v", c.format, err, got, st)
		}
	}
	if _, err := decodeSnapshot(append([]byte(snapshotMagic+"\x05"), v4[len(snapshotMagic)+1:]...)); err == nil {
		t.Fatal("a snapshot of a later format loaded")
	}
}
