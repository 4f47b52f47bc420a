package saga_test

import (
	"testing"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

// happyLog is the saga log of one completed booking, and the inputs that
// produced it.
func happyLog(b *testing.B) ([]events.Envelope, []saga.Input) {
	b.Helper()
	d := newDriver(b)
	d.refold = false
	in := []saga.Input{startFor("book-ticket", idemKey, bookData)}
	d.feed(in[0])
	for range 5 {
		r := d.replyTo(events.OutcomeSucceeded, "", "")
		in = append(in, r)
		d.feed(r)
	}
	if d.s.Status != saga.StatusCompleted {
		b.Fatalf("setup: %s", d.s.Status)
	}
	return d.log, in
}

// BenchmarkDecideBooking decides a whole completed booking, a start and
// five replies, as the runtime does: each decision gives the next state
// and the commands to send.
func BenchmarkDecideBooking(b *testing.B) {
	_, inputs := happyLog(b)
	b.ReportAllocs()
	for b.Loop() {
		var s saga.State
		for _, in := range inputs {
			d, err := machine.Next(s, in, t0)
			if err != nil {
				b.Fatal(err)
			}
			s = d.State
		}
	}
}

// BenchmarkFoldBooking folds the log of a completed booking, as recovery
// and projections do for every saga they read.
func BenchmarkFoldBooking(b *testing.B) {
	log, _ := happyLog(b)
	b.ReportAllocs()
	b.ReportMetric(float64(len(log)), "events/saga")
	for b.Loop() {
		var s saga.State
		for _, e := range log {
			var err error
			if s, _, err = machine.Fold(s, e); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkEncodeDecodeEvent round-trips one saga event through the wire
// form: envelope to headers, headers to envelope, check and decode.
func BenchmarkEncodeDecodeEvent(b *testing.B) {
	log, _ := happyLog(b)
	e := log[1] // StepStarted
	b.ReportAllocs()
	for b.Loop() {
		h := make(map[string]string, 8)
		events.PutHeaders(h, e)
		got, err := events.FromHeaders(e.ID, h, e.Payload)
		if err == nil {
			got, err = events.Check(got)
		}
		if err == nil {
			_, err = events.Decode[events.StepStartedV1](got)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
