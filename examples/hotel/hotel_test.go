package hotel_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
)

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
