package readmodel_test

import (
	"context"
	"math/rand"
	"testing"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// For random logs (real sagas, real participant services, random faults)
// applied in random batch sizes and random interleavings of partitions and
// topics, with redeliveries, every read model equals the pure fold of the
// log; applying the whole log again changes nothing.
func TestReadModelsEqualTheFold(t *testing.T) {
	seeds, sagas := int64(8), 120
	if testing.Short() || raceEnabled {
		seeds, sagas = 3, 60
	}
	for seed := int64(1); seed <= seeds; seed++ {
		s := newSim(t, seed).run(sagas)
		recs := s.records()
		m := fold(bus.Config{}, recs)
		db := openDB(t)
		feed(t, rand.New(rand.NewSource(seed)), db, recs)
		assertMatches(t, db, m)

		// Everything again, in another order: all of it was applied.
		for _, name := range readmodel.Names() {
			res, err := db.Apply(context.Background(), bus.Config{}, name, filterTopics(recs, projectionTopics[name]...))
			if err != nil {
				t.Fatal(err)
			}
			if res.Applied != 0 || res.Skipped != 0 {
				t.Fatalf("seed %d: %s applied %d and skipped %d records a second time", seed, name, res.Applied, res.Skipped)
			}
		}
		assertMatches(t, db, m)
		if seed == 1 {
			t.Logf("seed 1: %d records, %d sagas, %d bookings", len(recs), len(m.sagas.List("")), len(m.wantBookings()))
		}
	}
}

func filterTopics(recs []bus.Record, topics ...string) []bus.Record {
	var out []bus.Record
	for _, src := range sourcesOf(recs, topics...) {
		out = append(out, src...)
	}
	return out
}

// The simulation reaches every end a saga can have, so the property test
// covers them.
func TestSimulationCoversEveryEnd(t *testing.T) {
	s := newSim(t, 42).run(200)
	m := fold(bus.Config{}, s.records())
	ends := map[string]int{}
	for _, v := range m.sagas.List("") {
		ends[v.Definition+" "+v.Status]++
	}
	t.Logf("ends: %v", ends)
	for _, want := range []string{"book-ticket completed", "book-ticket compensated", "cancel-booking completed"} {
		if ends[want] == 0 {
			t.Errorf("no saga ended %s", want)
		}
	}
	b := m.wantBookings()
	cancelled := 0
	for _, x := range b {
		if x.Status == readmodel.StatusCancelled {
			cancelled++
		}
	}
	if cancelled == 0 {
		t.Error("no booking was cancelled")
	}
	skipped := 0
	for _, r := range s.records() {
		if _, ok := checked(r); !ok {
			skipped++
		}
	}
	if skipped == 0 {
		t.Error("no record that does not check")
	}
}
