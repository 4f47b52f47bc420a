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
func command(typ events.Type, sagaID, ref string, attempt int, data map[string]any) events.Envelope {
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
