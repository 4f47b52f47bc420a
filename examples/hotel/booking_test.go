package hotel_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/conformance"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/servicefile"
	"github.com/sagaflow/saga/sign"
	"github.com/sagaflow/saga/system"
)

// declareHotel declares the services of services.yaml for this process,
// as `saga --services examples/hotel/services.yaml` does, until the test
// ends.
func declareHotel(t *testing.T) {
	t.Helper()
	decls, err := servicefile.Load("services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Declare(decls); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = events.Declare(nil) })
}

// hotelDefinition is book-ticket-with-hotel.yaml compiled and checked
// against the services with the hotel declared, as `saga definitions
// apply -f` checks it.
func hotelDefinition(t *testing.T) saga.Definition {
	t.Helper()
	raw, err := os.ReadFile("book-ticket-with-hotel.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := definition.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Compile(definition.BuiltinServices().With(hotel, "ReserveRoom", "ReleaseRoom"))
	if err != nil {
		t.Fatalf("book-ticket-with-hotel.yaml: %v", err)
	}
	return d
}

// TestHotelBooksEndToEnd runs the system on the embedded broker with the
// hotel declared, book-ticket-with-hotel applied and hotel.py beside it: a
// booking on book-ticket-with-hotel completes with its room reserved, and
// one whose card is declined releases the room and ends compensated.
func TestHotelBooksEndToEnd(t *testing.T) {
	py := python(t)
	declareHotel(t)
	def := hotelDefinition(t)
	keyDir := t.TempDir()
	keys, ring, err := sign.EnsureDir(keyDir, events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bustest.Start(t)
	cfg.Trust = ring
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// The definition is applied as an operator applies it, before the
	// orchestrator starts: it reads the catalogue at start.
	operator, reader := cfg, cfg
	operator.Signer, reader.Signer = keys[events.PrincipalOperator], keys[events.PrincipalClient]
	if _, err := catalogue.Publish(ctx, reader, operator, def, "operator:test", time.Now()); err != nil {
		t.Fatalf("apply book-ticket-with-hotel: %v", err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	running := make(chan error, 1)
	go func() { running <- system.Run(ctx, system.Config{Bus: cfg, Log: log, Keys: keys}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-running; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("system stopped with: %v", err)
		}
	})
	defs := map[string]saga.Definition{def.Name: def}

	w := &world{t: t, py: py, cfg: cfg, keys: keys, ring: ring, keyDir: keyDir, db: t.TempDir() + "/hotel.db"}
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("hotel.py said:\n%s", w.logs)
		}
	})
	w.start()

	client := cfg
	client.Signer = keys[events.PrincipalClient]
	booked := bookWithHotel(t, client, defs, demo.TokenOK)
	if booked.Status != "completed" {
		t.Fatalf("the booking with a room ended %s: %s", booked.Status, booked.Reason)
	}
	if s := stepsOf(booked); s["ReserveRoom"] != "succeeded" || s["ConfirmBooking"] != "succeeded" {
		t.Fatalf("steps of the completed booking: %v", s)
	}
	if !strings.Contains(string(booked.Data), `"hotel_room":`) {
		t.Fatalf("the hotel's reply is not in the saga's data: %s", booked.Data)
	}
	declined := bookWithHotel(t, client, defs, demo.TokenDeclined)
	if declined.Status != "compensated" {
		t.Fatalf("the booking with a declined card ended %s: %s", declined.Status, declined.Reason)
	}
	if s := stepsOf(declined); s["ReserveRoom"] != "compensated" || s["ReserveSeats"] != "compensated" || s["ChargePayment"] != "failed" {
		t.Fatalf("steps of the declined booking: %v", s)
	}
	// The hotel released the declined booking's room: a ReleaseRoom
	// answered, and its event logged.
	released := false
	for _, r := range w.records(events.DomainTopic(hotel)) {
		if r.Headers[events.HeaderSagaID] == declined.SagaID && r.Headers[events.HeaderType] == "RoomReleased" {
			released = w.verified(r, events.PrincipalClient) == nil
		}
	}
	if !released {
		t.Fatal("the hotel logged no signed RoomReleased for the declined booking")
	}
}

// bookWithHotel posts a book-ticket-with-hotel request for alice on show-1,
// signed as the client, and waits until its saga ends.
func bookWithHotel(t *testing.T, cfg bus.Config, defs map[string]saga.Definition, token string) projections.SagaView {
	t.Helper()
	key := uuid.NewString()
	sagaID := events.SagaIDFor(key)
	ref := events.BookingRefFor(sagaID)
	data := events.MustJSON(map[string]any{"booking_ref": ref, "user_id": "alice", "show_id": "show-1", "seats": 1,
		"payment_token": token, "nights": 2})
	req := events.MustNew(uuid.NewString(), events.StartSaga,
		events.StartSagaV1{Definition: "book-ticket-with-hotel", IdempotencyKey: key, BookingRef: ref, Data: data},
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: "alice"}, sagaID, time.Now())
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(cfg.Topic(events.TopicRequests), bus.ToMessage(req)); err != nil {
		t.Fatal(err)
	}
	return waitSaga(t, cfg, defs, sagaID)
}

// waitSaga folds the saga log, with the definitions given, until saga id
// has ended.
func waitSaga(t *testing.T, cfg bus.Config, defs map[string]saga.Definition, sagaID string) projections.SagaView {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	sagas := projections.NewSagas(saga.Definitions(defs))
	var last projections.SagaView
	done := false
	err := bus.Follow(ctx, cfg, cfg.Topic(events.TopicSagaLog), func(r bus.Record) error {
		e, err := cfg.CheckLogged(r)
		if err != nil || e.SagaID != sagaID {
			return nil //nolint:nilerr // another saga's, or one the fold cannot read
		}
		sagas.Add(e)
		if v, ok := sagas.Find(sagaID); ok {
			last = v
			if done = v.Status == "completed" || v.Status == "compensated" || v.Status == "failed"; done {
				cancel()
			}
		}
		return nil
	})
	if !done {
		t.Fatalf("saga %s did not end: %v (last seen %+v)", sagaID, err, last)
	}
	return last
}

func stepsOf(v projections.SagaView) map[string]string {
	out := map[string]string{}
	for _, s := range v.Steps {
		out[s.Name] = s.Status
	}
	return out
}

// TestHotelPassesTheConformanceKit runs the conformance kit (saga
// participant check --service hotel) against hotel.py: every rule of
// docs/protocol.md passes.
func TestHotelPassesTheConformanceKit(t *testing.T) {
	py := python(t)
	declareHotel(t)
	keyDir := t.TempDir()
	keys, ring, err := sign.EnsureDir(keyDir, events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bustest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatalf("provision: %v", err)
	}
	// Enough rooms for the kit's sagas at once.
	w := &world{t: t, py: py, cfg: cfg, keys: keys, ring: ring, keyDir: keyDir, db: t.TempDir() + "/hotel.db", rooms: 20}
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			t.Logf("hotel.py said:\n%s", w.logs)
		}
	})
	w.start()
	script, err := conformance.ScriptFor(hotel)
	if err != nil {
		t.Fatal(err)
	}
	kit := cfg
	kit.Trust, kit.Signer = ring, keys[events.PrincipalOrchestrator]
	rep, err := conformance.Check(ctx, conformance.Config{Bus: kit, Script: script, Timeout: wait})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_ = rep.WriteText(&out)
	t.Logf("saga participant check --service hotel:\n%s", out.String())
	if !rep.Passed() {
		t.Fatalf("the hotel fails the kit: %+v", rep.Failed())
	}
}
