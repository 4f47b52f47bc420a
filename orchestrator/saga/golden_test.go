package saga_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
)

var update = flag.Bool("update", false, "rewrite the golden saga histories in testdata/")

// record is one line of a golden history: a saga log event as the log
// stores it. Ids, key and causation are derived on replay.
type record struct {
	Type          events.Type     `json:"type"`
	Version       int             `json:"version"`
	SagaID        string          `json:"saga_id"`
	CorrelationID string          `json:"correlation_id"`
	Actor         string          `json:"actor"`
	OccurredAt    time.Time       `json:"occurred_at"`
	Payload       json.RawMessage `json:"payload"`
}

// after moves the clock before an act, so a history has realistic times.
func after(d time.Duration, a act) act {
	return act{a.name, func(dr *driver) { dr.now = dr.now.Add(d); a.do(dr) }}
}

// golden histories: a name in testdata/ and the script that wrote it.
var goldens = map[string][]act{
	"book_ticket_declined.jsonl": {
		start(flows.BookTicket, bookData),
		after(120*time.Millisecond, ok(`{"user_id":"u-1"}`)),
		after(340*time.Millisecond, ok(`{"amount_cents":5000}`)),
		after(910*time.Millisecond, fail("card declined")),
		after(200*time.Millisecond, ok("")),
	},
}

func writeGolden(t *testing.T, path string, log []events.Envelope) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, e := range log {
		r := record{Type: e.Type, Version: e.Version, SagaID: e.SagaID, CorrelationID: e.CorrelationID,
			Actor: e.Actor, OccurredAt: e.OccurredAt, Payload: e.Payload}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replayGolden folds a committed history through events.Check and Apply,
// as recovery reads the saga log.
func replayGolden(t *testing.T, path string) saga.State {
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./orchestrator/saga/ -run Golden -update to write it)", err)
	}
	defer f.Close()
	var s saga.State
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var r record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		e := events.Envelope{ID: events.SagaEventID(r.SagaID, n), Type: r.Type, Version: r.Version, SagaID: r.SagaID,
			CorrelationID: r.CorrelationID, Actor: r.Actor, OccurredAt: r.OccurredAt, Key: r.SagaID, Payload: r.Payload}
		e, err := events.Check(e)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
		if s, err = machine.Apply(s, e); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGoldenHistories replays committed saga logs: a log written by an
// older build must keep replaying to the same outcome.
func TestGoldenHistories(t *testing.T) {
	for name, script := range goldens {
		path := filepath.Join("testdata", name)
		if *update {
			writeGolden(t, path, run(t, script...).log)
		}
		s := replayGolden(t, path)
		switch name {
		case "book_ticket_declined.jsonl":
			if s.Status != saga.StatusCompensated {
				t.Errorf("%s: status %s, want compensated", name, s.Status)
			}
			want := "VerifyUser=succeeded ReserveSeats=compensated ChargePayment=failed ConfirmBooking=skipped SendNotification=skipped"
			if got := statuses(s); got != want {
				t.Errorf("%s: steps %s\nwant %s", name, got, want)
			}
			if !strings.Contains(s.Reason, "ChargePayment failed: card declined") {
				t.Errorf("%s: reason %q", name, s.Reason)
			}
			if s.Definition != flows.BookTicket || s.SagaID != events.SagaIDFor(s.IdempotencyKey) || s.BookingRef != events.BookingRefFor(s.SagaID) {
				t.Errorf("%s: saga %s def %s ref %s", name, s.SagaID, s.Definition, s.BookingRef)
			}
			if got := field(t, s.Data, "amount_cents"); got != 5000.0 {
				t.Errorf("%s: amount_cents %v", name, got)
			}
		}
		// A replayed saga that ended stays ended.
		if out, err := machine.Decide(s, saga.Tick{}, s.UpdatedAt.Add(time.Hour)); err != nil || len(out) != 0 {
			t.Errorf("%s: Tick after replay: %v %v", name, summary(out), err)
		}
	}
}
