package readmodel

import (
	"math/rand"
	"testing"
	"time"
)

// fmtTime writes what Format with timeLayout writes, for every time.
func TestFmtTimeIsTheLayout(t *testing.T) {
	times := []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 6, 1, 12, 0, 0, 1, time.FixedZone("x", 5*3600+1800)),
		time.Unix(0, 0),
	}
	rng := rand.New(rand.NewSource(1))
	for range 10000 {
		times = append(times, time.Unix(rng.Int63n(400e9)-200e9, rng.Int63n(1e9)).In(time.FixedZone("z", rng.Intn(86400)-43200)))
	}
	for _, tm := range times {
		if got, want := fmtTime(tm), tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("fmtTime(%v) = %v, want %q", tm, got, want)
		}
	}
	if fmtTime(time.Time{}) != nil {
		t.Fatal("the zero time is not NULL")
	}
}
