package events_test

import (
	"testing"

	"github.com/sagaflow/saga/events"
)

// The hot path of the orchestrator: every reply is read from headers,
// checked and decoded.
func BenchmarkCheckStepReply(b *testing.B) {
	e := events.MustNew(events.DerivedID("cmd", "reply"), events.StepReply, sampleReply(), fullTrace(), "saga-1", t0)
	h := headersOf(e)
	h[events.HeaderID] = e.ID
	payload := []byte(e.Payload)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		e, err := events.FromHeaders("", h, payload)
		if err != nil {
			b.Fatal(err)
		}
		if e, err = events.Check(e); err != nil {
			b.Fatal(err)
		}
		if _, err := events.Decode[events.StepReplyV1](e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutHeaders(b *testing.B) {
	e := events.MustNew(events.DerivedID("cmd", "reply"), events.StepReply, sampleReply(), fullTrace(), "saga-1", t0)
	b.ReportAllocs()
	for b.Loop() {
		if h := headersOf(e); len(h) == 0 {
			b.Fatal("no headers")
		}
	}
}

func BenchmarkNewStepReply(b *testing.B) {
	trace, p := fullTrace(), sampleReply()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.New("id", events.StepReply, p, trace, "saga-1", t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommandID(b *testing.B) {
	s := events.SagaIDFor("order-1001")
	b.ReportAllocs()
	for b.Loop() {
		_ = events.CommandID(s, "ReserveSeats", false, 1)
	}
}
