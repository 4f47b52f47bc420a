package metrics_test

import (
	"testing"
	"time"

	"github.com/sagaflow/saga/metrics"
)

// BenchmarkRecordSaga is what the orchestrator records for one booking
// saga of five steps: the hot path must not allocate.
func BenchmarkRecordSaga(b *testing.B) {
	m := metrics.New()
	steps := []string{"VerifyUser", "ReserveSeats", "ChargePayment", "ConfirmBooking", "SendNotification"}
	b.ReportAllocs()
	for b.Loop() {
		m.SagaStarted("book-ticket")
		for _, s := range steps {
			m.StepAttempt("book-ticket", s, metrics.OutcomeSucceeded, 3*time.Millisecond)
		}
		m.SagaEnded("book-ticket", "completed")
	}
}

func TestRecordingDoesNotAllocate(t *testing.T) {
	m := metrics.New()
	m.StepAttempt("book-ticket", "VerifyUser", metrics.OutcomeSucceeded, time.Millisecond)
	m.SagaStarted("book-ticket")
	if n := testing.AllocsPerRun(100, func() {
		m.SagaStarted("book-ticket")
		m.StepAttempt("book-ticket", "VerifyUser", metrics.OutcomeSucceeded, time.Millisecond)
	}); n != 0 {
		t.Errorf("recording allocates %v times", n)
	}
}
