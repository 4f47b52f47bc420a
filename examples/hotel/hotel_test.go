package hotel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// hotel is the declared service's name: its principal and topics.
const hotel = "hotel"

// wait bounds every wait for the hotel's answer; the test never sleeps.
const wait = 60 * time.Second

// python is the interpreter with the hotel's requirements (SAGA_PYTHON,
// which CI points at the venv of examples/hotel/requirements.txt, or
// python3); the test is skipped where it has none of them.
func python(t *testing.T) string {
	t.Helper()
	py := os.Getenv("SAGA_PYTHON")
	if py == "" {
		py = "python3"
	}
	if err := exec.Command(py, "-c", "import confluent_kafka, cryptography").Run(); err != nil {
		t.Skipf("%s lacks the hotel's requirements (pip install -r examples/hotel/requirements.txt; SAGA_PYTHON names another python)", py)
	}
	return py
}

// world is a broker with the hotel's topics, the keys of every principal
// and the hotel's, and the hotel running as a subprocess.
type world struct {
	t      *testing.T
	py     string
	cfg    bus.Config
	keys   map[string]*sign.Key
	ring   *sign.Keyring
	keyDir string
	db     string
	// rooms is the hotel's number of rooms (2 when zero).
	rooms int

	mu   sync.Mutex
	proc *exec.Cmd
	done chan error
	logs *bustest.LogBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	py := python(t)
	keyDir := t.TempDir()
	keys, ring, err := sign.EnsureDir(keyDir, append(events.Principals(), hotel), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// An orchestrator key retired a moment ago (a rotation), in the keyring
	// as Go writes it, nanoseconds and all: it signs nothing the hotel obeys.
	retired, err := sign.NewKey("orchestrator-retired", events.PrincipalOrchestrator)
	if err == nil {
		err = ring.Add(retired.Public())
	}
	if err == nil {
		err = ring.Retire(retired.ID, time.Now().Add(-time.Second))
	}
	if err == nil {
		err = sign.SaveKeyring(filepath.Join(keyDir, sign.KeyringFile), ring)
	}
	if err != nil {
		t.Fatal(err)
	}
	keys["retired"] = retired
	cfg := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []bus.TopicSpec{{Name: events.CommandTopic(hotel)}, {Name: events.DomainTopic(hotel)}, {Name: events.TopicReplies}, {Name: events.TopicDLQ}}
	if err := bus.Provision(ctx, cfg, topics); err != nil {
		t.Fatalf("provision: %v", err)
	}
	w := &world{t: t, py: py, cfg: cfg, keys: keys, ring: ring, keyDir: keyDir, db: filepath.Join(t.TempDir(), "hotel.db")}
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("hotel.py said:\n%s", w.logs)
		}
	})
	return w
}

// start runs hotel.py (with two rooms unless w.rooms says), with env added
// to its environment.
func (w *world) start(env ...string) {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.logs == nil {
		w.logs = &bustest.LogBuffer{}
	}
	cmd := w.hotelCmd(env...)
	cmd.Stdout, cmd.Stderr = w.logs, w.logs
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start hotel.py: %v", err)
	}
	w.proc, w.done = cmd, make(chan error, 1)
	go func() { w.done <- cmd.Wait() }()
}

// hotelCmd is hotel.py on the world's broker, keys and database (with two
// rooms unless w.rooms says), with env added to its environment.
func (w *world) hotelCmd(env ...string) *exec.Cmd {
	rooms := w.rooms
	if rooms == 0 {
		rooms = 2
	}
	cmd := exec.Command(w.py, "hotel.py", "--brokers", strings.Join(w.cfg.Brokers, ","), "--namespace", w.cfg.Namespace,
		"--keys", w.keyDir, "--db", w.db, "--rooms", strconv.Itoa(rooms))
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// exited waits until hotel.py ends by itself.
func (w *world) exited() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.done:
	case <-time.After(wait):
		w.t.Fatal("hotel.py did not stop at its crash point")
	}
	w.proc = nil
}

// kill stops hotel.py with SIGKILL, as a crash would, and waits for it.
func (w *world) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.proc == nil {
		return
	}
	_ = w.proc.Process.Kill()
	<-w.done
	w.proc = nil
}

// command is a command the orchestrator would send the hotel for a saga.
func command(typ, sagaID, ref string, attempt int, data map[string]any) events.Envelope {
	step := "ReserveRoom"
	if data == nil {
		data = map[string]any{"booking_ref": ref, "user_id": "alice", "nights": 2}
	}
	raw, _ := json.Marshal(data)
	comp := typ == "ReleaseRoom"
	return events.MustNew(events.CommandID(sagaID, step, comp, attempt), typ,
		events.CommandV1{Step: step, Attempt: attempt, Compensation: comp, Data: raw},
		events.Trace{SagaID: sagaID, CorrelationID: ref, CausationID: uuid.NewString(), Actor: "alice"}, ref, time.Now())
}

// signature is the headers that sign e for the hotel as k signs it.
func (w *world) signature(e events.Envelope, k *sign.Key) map[string]string {
	w.t.Helper()
	hdr := map[string]string{events.HeaderID: e.ID}
	events.PutHeaders(hdr, e)
	delete(hdr, events.MetaKey)
	sigs, err := w.ring.Sign(k, sign.Record{Topic: w.cfg.Topic(events.CommandTopic(hotel)), Key: e.Key, Headers: hdr, Payload: e.Payload}, []string{hotel}, time.Now())
	if err != nil {
		w.t.Fatal(err)
	}
	return sigs
}

// send writes e to hotel.commands signed by k for the hotel (nil:
// unsigned), with the extra headers, and returns its id.
func (w *world) send(e events.Envelope, k *sign.Key, extra map[string]string) string {
	w.t.Helper()
	hdr := map[string]string{events.HeaderID: e.ID}
	events.PutHeaders(hdr, e)
	delete(hdr, events.MetaKey)
	if k != nil {
		for n, v := range w.signature(e, k) {
			hdr[n] = v
		}
	}
	for n, v := range extra {
		hdr[n] = v
	}
	var hs []bus.Header
	for n, v := range hdr {
		hs = append(hs, bus.Header{Key: n, Value: v})
	}
	if _, _, err := bus.Send(w.cfg, w.cfg.Topic(events.CommandTopic(hotel)), e.Key, e.Payload, hs); err != nil {
		w.t.Fatal(err)
	}
	return e.ID
}

// records reads every record of a topic (unprefixed name).
func (w *world) records(name string) []bus.Record {
	w.t.Helper()
	var out []bus.Record
	err := bus.ReadAll(context.Background(), w.cfg, w.cfg.Topic(name), func(r bus.Record) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// verified checks a record the hotel wrote as reader would, and that the
// hotel signed it.
func (w *world) verified(r bus.Record, reader string) error {
	signer, err := w.ring.Verify(w.keys[reader], sign.Record{Topic: r.Topic, Key: string(r.Key), Headers: r.Headers, Payload: r.Value}, time.Now())
	if err == nil && signer != hotel {
		err = fmt.Errorf("signed by %s", signer)
	}
	return err
}

// replies returns the hotel's replies to command id, checked as the
// orchestrator checks them.
func (w *world) replies(id string) []events.StepReplyV1 {
	w.t.Helper()
	var out []events.StepReplyV1
	for _, r := range w.records(events.TopicReplies) {
		if r.Headers[events.HeaderCausationID] != id {
			continue
		}
		// The orchestrator reads it, and the client (a definition's dry run).
		for _, reader := range events.ReadersOf(events.TopicReplies) {
			if err := w.verified(r, reader); err != nil {
				w.t.Fatalf("reply to %s read by %s: %v", id, reader, err)
			}
		}
		e, err := bus.CheckRecord(r)
		if err != nil {
			w.t.Fatalf("reply to %s: %v", id, err)
		}
		p := events.MustDecode[events.StepReplyV1](e)
		if e.ID != events.DerivedID(id, "reply") || e.Key == "" || e.SagaID != string(r.Key) {
			w.t.Fatalf("reply to %s: id %s, key %q, saga %s", id, e.ID, r.Key, e.SagaID)
		}
		out = append(out, p)
	}
	return out
}

// reply waits for the hotel's reply to command id.
func (w *world) reply(id string) events.StepReplyV1 {
	w.t.Helper()
	var got []events.StepReplyV1
	bustest.Eventually(w.t, wait, func() (bool, string) {
		got = w.replies(id)
		return len(got) > 0, "no reply to " + id
	})
	return got[0]
}

// domainEvent is what the test reads of the hotel's own log.
type domainEvent struct {
	Type      string
	CommandID string `json:"command_id"`
	Outcome   string `json:"outcome"`
	Room      int    `json:"room"`
}

// domainEvents returns the hotel's events for command id, each checked as
// the hotel and the read models (the client's key) check them.
func (w *world) domainEvents(id string) []domainEvent {
	w.t.Helper()
	var out []domainEvent
	for _, r := range w.records(events.DomainTopic(hotel)) {
		if r.Headers[events.HeaderCausationID] != id {
			continue
		}
		for _, reader := range []string{hotel, events.PrincipalClient} { // the hotel, and the read models
			if err := w.verified(r, reader); err != nil {
				w.t.Fatalf("event for %s read by %s: %v", id, reader, err)
			}
		}
		var ev domainEvent
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			w.t.Fatal(err)
		}
		ev.Type = r.Headers[events.HeaderType]
		out = append(out, ev)
	}
	return out
}

// letter waits for the dead letter of message id and returns its reason.
func (w *world) letter(id string) string {
	w.t.Helper()
	var reason string
	bustest.Eventually(w.t, wait, func() (bool, string) {
		for _, r := range w.records(events.TopicDLQ) {
			if r.Headers[bus.HeaderID] == id {
				reason = r.Headers["reason_poisoned"]
				if r.Headers[bus.MetaTopic] != w.cfg.Topic(events.CommandTopic(hotel)) || r.Headers[bus.MetaOffset] == "" {
					return false, fmt.Sprintf("letter %s without its origin: %v", id, r.Headers)
				}
				return true, ""
			}
		}
		return false, "no dead letter " + id
	})
	return reason
}

func newSaga() (id, ref string) {
	id = uuid.NewString()
	return id, events.BookingRefFor(id)
}

// TestHotelAnswersAsAGoParticipant drives hotel.py with commands as the
// orchestrator sends them, and reads its replies, domain events and dead
// letters as the orchestrator, the read models and an operator do.
func TestHotelAnswersAsAGoParticipant(t *testing.T) {
	w := newWorld(t)
	w.start()
	orch := w.keys[events.PrincipalOrchestrator]

	t.Run("a reservation is answered once, signed, and repeated on a repeated id", func(t *testing.T) {
		sagaID, ref := newSaga()
		cmd := command("ReserveRoom", sagaID, ref, 1, nil)
		const trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		id := w.send(cmd, orch, map[string]string{"traceparent": trace})
		r := w.reply(id)
		for _, rec := range w.records(events.TopicReplies) {
			if rec.Headers[events.HeaderCausationID] == id && rec.Headers["traceparent"] != trace {
				t.Errorf("the reply carries traceparent %q, the command %q", rec.Headers["traceparent"], trace)
			}
		}
		if r.Outcome != events.OutcomeSucceeded || r.Command != "ReserveRoom" || r.CommandID != id || !strings.Contains(string(r.Data), `"hotel_room"`) {
			t.Fatalf("reply %+v (data %s)", r, r.Data)
		}
		w.send(cmd, orch, nil)
		bustest.Eventually(t, wait, func() (bool, string) {
			return len(w.replies(id)) == 2, "the repeated command is not answered again"
		})
		replies := w.replies(id)
		if string(replies[0].Data) != string(replies[1].Data) || replies[0].Outcome != replies[1].Outcome {
			t.Fatalf("a repeated command got another reply: %+v then %+v", replies[0], replies[1])
		}
		if evs := w.domainEvents(id); len(evs) != 1 || evs[0].Type != "RoomReserved" || evs[0].Room == 0 {
			t.Fatalf("the hotel logged %+v for one reservation sent twice", evs)
		}
		// The next attempt of the step (a new id) finds the booking's room.
		again := w.send(command("ReserveRoom", sagaID, ref, 2, nil), orch, nil)
		if r2 := w.reply(again); r2.Outcome != events.OutcomeSucceeded || string(r2.Data) != string(r.Data) {
			t.Fatalf("a second attempt got %+v (data %s), the first %s", r2, r2.Data, r.Data)
		}
	})

	t.Run("a release frees the room once and is idempotent", func(t *testing.T) {
		sagaID, ref := newSaga()
		w.reply(w.send(command("ReserveRoom", sagaID, ref, 1, nil), orch, nil))
		rel := command("ReleaseRoom", sagaID, ref, 1, nil)
		if r := w.reply(w.send(rel, orch, nil)); r.Outcome != events.OutcomeSucceeded {
			t.Fatalf("release: %+v", r)
		}
		second := w.send(command("ReleaseRoom", sagaID, ref, 2, nil), orch, nil)
		if r := w.reply(second); r.Outcome != events.OutcomeSucceeded {
			t.Fatalf("second release: %+v", r)
		}
		if evs := w.domainEvents(rel.ID); len(evs) != 1 || evs[0].Type != "RoomReleased" || evs[0].Room == 0 {
			t.Fatalf("release logged %+v", evs)
		}
		if evs := w.domainEvents(second); len(evs) != 1 || evs[0].Room != 0 {
			t.Fatalf("a second release freed a room again: %+v", evs)
		}
	})

	t.Run("a release before its reservation succeeds with no effect and refuses the late reservation", func(t *testing.T) {
		sagaID, ref := newSaga()
		rel := w.send(command("ReleaseRoom", sagaID, ref, 1, nil), orch, nil)
		if r := w.reply(rel); r.Outcome != events.OutcomeSucceeded {
			t.Fatalf("release of nothing: %+v", r)
		}
		late := w.send(command("ReserveRoom", sagaID, ref, 1, nil), orch, nil)
		if r := w.reply(late); r.Outcome != events.OutcomeFailed || r.Reason != "booking already released" {
			t.Fatalf("late reservation: %+v", r)
		}
	})

	t.Run("a full hotel refuses, and a released room is booked again", func(t *testing.T) {
		// The hotel has two rooms: booking three fills it, whatever earlier
		// subtests hold.
		var held []string
		var refused events.Envelope
		for i := 0; i < 3 && refused.ID == ""; i++ {
			s, r := newSaga()
			cmd := command("ReserveRoom", s, r, 1, nil)
			switch rep := w.reply(w.send(cmd, orch, nil)); {
			case rep.Outcome == events.OutcomeSucceeded:
				held = append(held, s)
			case rep.Reason == "no rooms left":
				refused = cmd
			default:
				t.Fatalf("reservation: %+v", rep)
			}
		}
		if refused.ID == "" || len(held) == 0 {
			t.Fatalf("three reservations in a hotel of two rooms were all accepted")
		}
		w.reply(w.send(command("ReleaseRoom", held[0], events.BookingRefFor(held[0]), 1, nil), orch, nil))
		retry := command("ReserveRoom", refused.SagaID, refused.CorrelationID, 2, nil)
		if r := w.reply(w.send(retry, orch, nil)); r.Outcome != events.OutcomeSucceeded {
			t.Fatalf("reservation after a release: %+v", r)
		}
	})

	t.Run("commands the hotel cannot obey go to the dead-letter topic with the reason", func(t *testing.T) {
		sagaID, ref := newSaga()
		unsigned := w.send(command("ReserveRoom", sagaID, ref, 1, nil), nil, nil)
		forged := w.send(command("ReserveRoom", sagaID, ref, 2, nil), w.keys[events.PrincipalClient], nil)
		tampered := command("ReserveRoom", sagaID, ref, 3, nil)
		sigs := w.signature(tampered, orch)
		tampered.Payload = json.RawMessage(strings.Replace(string(tampered.Payload), `"nights":2`, `"nights":9`, 1))
		tamperedID := w.send(tampered, nil, sigs)
		notJSON := command("ReserveRoom", sagaID, ref, 4, nil)
		notJSON.Payload = json.RawMessage(`{not json`)
		badJSON := w.send(notJSON, orch, nil)
		unknown := w.send(command("BookSpa", sagaID, ref, 5, nil), orch, nil)
		byRetired := w.send(command("ReserveRoom", sagaID, ref, 7, nil), w.keys["retired"], nil)
		noRef := w.send(command("ReserveRoom", sagaID, ref, 6, map[string]any{"user_id": "alice"}), orch, nil)
		want := map[string]string{
			unsigned:   "unsigned: ",
			forged:     "signer_not_allowed: client may not write",
			tamperedID: "bad_signature: ",
			badJSON:    "malformed message: payload is not valid JSON",
			unknown:    `malformed message: unknown type "BookSpa"`,
			noRef:      "malformed message: booking_ref is required",
			byRetired:  "bad_signature: ReserveRoom on " + w.cfg.Topic(events.CommandTopic(hotel)) + ": bad signature: key orchestrator-retired of orchestrator was retired",
		}
		for id, prefix := range want {
			if reason := w.letter(id); !strings.HasPrefix(reason, prefix) {
				t.Errorf("letter %s: reason %q, want it to start %q", id, reason, prefix)
			}
		}
		// None was answered, and the hotel goes on answering.
		for id := range want {
			if r := w.replies(id); len(r) != 0 {
				t.Errorf("refused command %s was answered: %+v", id, r)
			}
		}
		s, r := newSaga()
		w.reply(w.send(command("ReleaseRoom", s, r, 1, nil), orch, nil))
	})
}

// TestHotelKilledLosesNothing kills hotel.py with SIGKILL and starts it
// again on the same database: a command answered before the kill is
// answered again the same way, with no second effect, and a command sent
// while it was down is answered once it is back.
func TestHotelKilledLosesNothing(t *testing.T) {
	w := newWorld(t)
	w.start()
	orch := w.keys[events.PrincipalOrchestrator]
	sagaID, ref := newSaga()
	cmd := command("ReserveRoom", sagaID, ref, 1, nil)
	first := w.reply(w.send(cmd, orch, nil))
	w.kill()
	other, otherRef := newSaga()
	during := w.send(command("ReserveRoom", other, otherRef, 1, nil), orch, nil)
	w.send(cmd, orch, nil)
	w.start()
	if r := w.reply(during); r.Outcome != events.OutcomeSucceeded {
		t.Fatalf("command sent while the hotel was down: %+v", r)
	}
	bustest.Eventually(t, wait, func() (bool, string) {
		return len(w.replies(cmd.ID)) >= 2, "the repeated command is not answered after the restart"
	})
	for _, r := range w.replies(cmd.ID) {
		if string(r.Data) != string(first.Data) || r.Outcome != first.Outcome {
			t.Fatalf("after the restart the command got %+v, before %+v", r, first)
		}
	}
	if evs := w.domainEvents(cmd.ID); len(evs) != 1 {
		t.Fatalf("one reservation logged %d times across a restart: %+v", len(evs), evs)
	}
}

// TestHotelCrashedBetweenAnyTwoStepsLosesNothing ends hotel.py at once
// (HOTEL_CRASH_AFTER) after each step of a command: its SQLite
// transaction, the domain event acknowledged, the reply acknowledged, the
// reply marked sent. Started again, the hotel answers the command, with
// the answer it stored, and its effect happened once: every reply and
// every copy of the event is the same.
func TestHotelCrashedBetweenAnyTwoStepsLosesNothing(t *testing.T) {
	python(t)
	for _, point := range []string{"transaction", "event", "reply", "published"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			orch := w.keys[events.PrincipalOrchestrator]
			w.start("HOTEL_CRASH_AFTER=" + point)
			sagaID, ref := newSaga()
			cmd := command("ReserveRoom", sagaID, ref, 1, nil)
			w.send(cmd, orch, nil)
			w.exited()
			w.start()
			first := w.reply(cmd.ID)
			if first.Outcome != events.OutcomeSucceeded {
				t.Fatalf("reply after the crash: %+v", first)
			}
			// The hotel answers what comes next: the crashed command was not
			// left blocking its partition.
			next := command("ReleaseRoom", sagaID, ref, 1, nil)
			w.reply(w.send(next, orch, nil))
			for _, r := range w.replies(cmd.ID) {
				if string(r.Data) != string(first.Data) {
					t.Fatalf("replies differ across the crash: %s and %s", r.Data, first.Data)
				}
			}
			evs := w.domainEvents(cmd.ID)
			if len(evs) == 0 {
				t.Fatal("the reservation's event is lost")
			}
			for _, e := range evs {
				if e != evs[0] {
					t.Fatalf("the reservation logged two different events: %+v", evs)
				}
			}
		})
	}
}

// owned is how many command partitions a hotel's log says it was last
// given.
func owned(logs string) int {
	i := strings.LastIndex(logs, "consuming ")
	if i < 0 {
		return 0
	}
	line, _, _ := strings.Cut(logs[i:], "\n")
	return strings.Count(line, ".commands[")
}

// TestTwoHotelsShareTheWork runs two hotel.py processes in one consumer
// group on one SQLite database: once they share the command partitions,
// reservations on every partition are answered, each once with one domain
// event, by both hotels, and no room is given to two bookings.
func TestTwoHotelsShareTheWork(t *testing.T) {
	w := newWorld(t)
	w.rooms = 20
	w.start()
	other := process(t, "the second hotel.py", w.hotelCmd())
	n, err := bus.PartitionCount(context.Background(), w.cfg, w.cfg.Topic(events.CommandTopic(hotel)))
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, wait, func() (bool, string) {
		a, b := owned(w.logs.String()), owned(other.String())
		return a > 0 && b > 0 && a+b == int(n), fmt.Sprintf("the hotels own %d and %d of %d partitions", a, b, n)
	})
	orch := w.keys[events.PrincipalOrchestrator]
	// Three reservations on each partition, so that both hotels have work.
	perPartition := map[int32]int{}
	var ids []string
	for len(ids) < 3*int(n) {
		sagaID, ref := newSaga()
		if p := bus.PartitionFor(ref, n); perPartition[p] < 3 {
			perPartition[p]++
			ids = append(ids, w.send(command("ReserveRoom", sagaID, ref, 1, nil), orch, nil))
		}
	}
	rooms := map[int]string{}
	for _, id := range ids {
		if r := w.reply(id); r.Outcome != events.OutcomeSucceeded {
			t.Fatalf("reservation %s: %+v", id, r)
		}
		evs := w.domainEvents(id)
		if len(evs) != 1 {
			t.Fatalf("reservation %s logged %d times: %+v", id, len(evs), evs)
		}
		if was, taken := rooms[evs[0].Room]; taken {
			t.Fatalf("room %d given to %s and %s", evs[0].Room, was, id)
		}
		rooms[evs[0].Room] = id
	}
	for name, logs := range map[string]string{"the first": w.logs.String(), "the second": other.String()} {
		if !strings.Contains(logs, "handled ReserveRoom") {
			t.Errorf("%s hotel handled nothing", name)
		}
	}
}
