package system_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/conformance"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/participants/participant"
	"github.com/sagaflow/saga/participants/service"
	"github.com/sagaflow/saga/participants/user"
	"github.com/sagaflow/saga/sign"
	"github.com/sagaflow/saga/system"
)

// hotel is a declared service's participant, in Go here for the test:
// one room per booking reference, a release leaves a tombstone.
type hotel struct{ rooms map[string]events.Type }

func (h *hotel) Name() string { return "hotel" }

func (h *hotel) Apply(e events.Envelope) error {
	var p struct {
		Ref string `json:"booking_ref"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return err
	}
	h.rooms[p.Ref] = e.Type
	return nil
}

func (h *hotel) Handle(cmd events.Envelope, p events.CommandV1, now time.Time) (events.Envelope, bool, error) {
	var d struct {
		Ref string `json:"booking_ref"`
	}
	if err := json.Unmarshal(p.Data, &d); err != nil || d.Ref == "" {
		return events.Envelope{}, false, events.Malformed("%s: booking_ref is required", cmd.Type)
	}
	out := struct {
		events.Handled
		Ref string `json:"booking_ref"`
	}{Handled: events.Handled{CommandID: cmd.ID, Outcome: events.OutcomeSucceeded}, Ref: d.Ref}
	typ := events.Type("RoomReleased")
	switch cmd.Type {
	case "ReserveRoom":
		typ = "RoomReserved"
		if h.rooms[d.Ref] == "RoomReleased" {
			out.Outcome, out.Reason, typ = events.OutcomeFailed, "booking already released", "RoomReleased"
		} else {
			out.Reply = json.RawMessage(`{"room":"101"}`)
		}
	case "ReleaseRoom":
	default:
		return events.Envelope{}, false, events.Malformed("hotel does not handle %q", cmd.Type)
	}
	ev, err := events.New(events.DerivedID(cmd.ID, "event"), typ, out, events.TraceOf(cmd), d.Ref, now)
	return ev, err == nil, err
}

// A service declared in configuration takes part in a saga: the
// orchestrator commands it on its own topic, takes its signed reply and
// compensates it; and it passes the conformance kit with its sample data.
func TestDeclaredServiceInASaga(t *testing.T) {
	if err := events.Declare([]events.ServiceDecl{{Name: "hotel", Key: "booking_ref",
		Commands: []events.CommandDecl{{Name: "ReserveRoom", Compensation: "ReleaseRoom"}},
		Sample:   json.RawMessage(`{"booking_ref":"BK-KIT-1"}`)}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
	keys, ring, err := sign.EnsureDir(t.TempDir(), events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bustest.Start(t)
	cfg.Trust = ring
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	as := func(p string) bus.Config { c := cfg; c.Signer = keys[p]; return c }
	step := func(name, svc string, cmd, comp events.Type, key string) saga.Step {
		return saga.Step{Name: name, Service: svc, Command: cmd, Compensation: comp, KeyField: key,
			Timeout: 30 * time.Second, Retry: saga.RetryPolicy{MaxAttempts: 1}}
	}
	defs, err := saga.NewDefinitions(saga.Definition{Name: "stay", CompensationRetry: saga.RetryPolicy{MaxAttempts: 3},
		Steps: []saga.Step{
			step("ReserveRoom", "hotel", "ReserveRoom", "ReleaseRoom", "booking_ref"),
			step("VerifyUser", events.ServiceUser, events.VerifyUser, "", "user_id"),
		}})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	orch, err := orchestrator.New(orchestrator.Config{Bus: as(events.PrincipalOrchestrator), Log: log, Definitions: defs, NoSnapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	users, err := participant.New(participant.Config{Bus: as(events.ServiceUser), Log: log,
		New: func() service.Service { return user.New(demo.Catalog()) }})
	if err != nil {
		t.Fatal(err)
	}
	rooms, err := participant.New(participant.Config{Bus: as("hotel"), Log: log,
		New: func() service.Service { return &hotel{rooms: map[string]events.Type{}} }})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 3)
	for _, run := range []func(context.Context) error{orch.Run, users.Run, rooms.Run} {
		go func() { done <- run(runCtx) }()
	}
	t.Cleanup(func() {
		stop()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("part stopped with: %v", err)
			}
		}
	})

	for _, c := range []struct {
		user string
		want events.Type
	}{{"alice", events.SagaCompleted}, {"mallory", events.SagaCompensated}} {
		key := "stay-" + c.user
		sagaID := events.SagaIDFor(key)
		ref := events.BookingRefFor(sagaID)
		data, _ := json.Marshal(map[string]string{"booking_ref": ref, "user_id": c.user})
		req := events.MustNew(events.DerivedID(key, "request"), events.StartSaga,
			events.StartSagaV1{Definition: "stay", IdempotencyKey: key, BookingRef: ref, Data: data},
			events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: c.user}, key, time.Now())
		pub, err := bus.NewBatchPublisher(as(events.PrincipalClient))
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(cfg.Topic(events.TopicRequests), bus.ToMessage(req)); err != nil {
			t.Fatal(err)
		}
		_ = pub.Close()
		if got := sagaEnd(ctx, t, cfg, sagaID); got != c.want {
			t.Errorf("the stay of %s ended %q, want %s", c.user, got, c.want)
		}
		if got := roomEvents(ctx, t, cfg, ref); len(got) == 0 || got[0] != "RoomReserved" ||
			(c.want == events.SagaCompensated) != (len(got) == 2 && got[1] == "RoomReleased") {
			t.Errorf("the hotel's log for the stay of %s: %v", c.user, got)
		}
	}

	script, err := conformance.ScriptFor("hotel")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := conformance.Check(ctx, conformance.Config{Bus: as(events.PrincipalOrchestrator), Script: script, Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed() {
		t.Errorf("the hotel fails the kit: %+v", rep.Failed())
	}
}

var errFound = errors.New("found")

// sagaEnd waits for the saga's end and returns its event type.
func sagaEnd(ctx context.Context, t *testing.T, cfg bus.Config, sagaID string) events.Type {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var end events.Type
	err := bus.Follow(ctx, cfg, cfg.Topic(events.TopicSagaLog), func(r bus.Record) error {
		e, err := bus.CheckRecord(r)
		if err == nil && e.SagaID == sagaID && (e.Type == events.SagaCompleted || e.Type == events.SagaCompensated || e.Type == events.SagaFailed) {
			end = e.Type
			return errFound
		}
		return nil
	})
	if !errors.Is(err, errFound) {
		t.Fatalf("saga %s did not end: %v", sagaID, err)
	}
	return end
}

// roomEvents returns the types of the hotel's events of a booking.
func roomEvents(ctx context.Context, t *testing.T, cfg bus.Config, ref string) []string {
	t.Helper()
	var out []string
	err := bus.ReadAll(ctx, cfg, cfg.Topic("hotel.events"), func(r bus.Record) error {
		if string(r.Key) == ref {
			out = append(out, r.Headers[events.HeaderType])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
