package system_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// Shows are events too: the demo catalogue is published at start, a new
// show is added by a saga, and a search by place answers with seats left.
func TestShowsAddSearchAndBook(t *testing.T) {
	h := newHarness(t)
	dbPath := filepath.Join(t.TempDir(), readmodel.FileName)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(testLogLevel)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: h.cfg, Keys: h.keys, Log: log, Timings: testTimings, SeedShows: true, ReadModel: dbPath})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	}()

	// The seeded catalogue becomes searchable.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		shows, err := h.c.Shows(context.Background())
		if err != nil {
			return false, err.Error()
		}
		found := shows.Search("us", "")
		return len(found) == 3, fmt.Sprintf("%d shows in the US", len(found))
	})

	opera := events.ShowData{ShowID: "opera-9", Title: "Tosca", Venue: "Opera House", City: "Sydney",
		State: "NSW", Country: "AU", Capacity: 3, PriceCents: 9900}
	rec, err := h.c.AddShow(context.Background(), opera, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := h.wait(rec); v.Status != "completed" {
		t.Fatalf("add-show saga %s (%s)", v.Status, v.Reason)
	}
	if again, err := h.c.AddShow(context.Background(), opera, ""); err != nil || again.SagaID != rec.SagaID {
		t.Fatalf("adding the same show again started %v (%v), want the same saga", again, err)
	}
	booked := h.wait(h.book("alice", "opera-9", 2, "tok_ok"))
	if booked.Status != "completed" {
		t.Fatalf("booking the new show: %s (%s)", booked.Status, booked.Reason)
	}
	if sold := h.wait(h.book("bob", "opera-9", 2, "tok_ok")); sold.Status != "compensated" {
		t.Fatalf("more seats than the new show has left: %s", sold.Status)
	}
	shows, err := h.c.Shows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := shows.Search("AU", "nsw")
	if len(got) != 1 || got[0].ShowID != "opera-9" || got[0].Available != 1 || got[0].Capacity != 3 {
		t.Fatalf("search AU/NSW = %+v, want opera-9 with 1 of 3 seats left", got)
	}
	if got := shows.Search("AU", "VIC"); len(got) != 0 {
		t.Fatalf("search AU/VIC = %+v, want nothing", got)
	}
	// The SQL read model answers the same.
	db, err := readmodel.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := readmodel.CatchUp(context.Background(), h.cfg, db); err != nil {
		t.Fatal(err)
	}
	sqlGot, err := db.SearchShows(context.Background(), "au", "NSW")
	if err != nil || fmt.Sprint(sqlGot) != fmt.Sprint(got) {
		t.Fatalf("read model search AU/NSW = %+v (%v), want %+v", sqlGot, err, got)
	}
	if us, _ := db.SearchShows(context.Background(), "US", ""); len(us) != 3 {
		t.Fatalf("read model has %d shows in the US, want the 3 demo shows", len(us))
	}

	// A different show under an id in use is refused, visibly.
	clash := opera
	clash.Capacity = 500
	if _, err := h.c.AddShow(context.Background(), clash, ""); err != nil {
		t.Fatal(err) // the same id is the same saga: nothing new starts
	}
	bad := events.ShowData{ShowID: "", Title: "x", Venue: "y", Country: "usa", Capacity: 0}
	if _, err := h.c.AddShow(context.Background(), bad, ""); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("an invalid show: %v, want ErrInvalid", err)
	}
	if _, err := h.c.Book(context.Background(), client.BookRequest{UserID: "alice", ShowID: "nope-1", Seats: 1, PaymentToken: "tok_ok"}); !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("booking an unknown show: %v, want ErrInvalid", err)
	}
}
