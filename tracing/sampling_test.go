package tracing_test

import (
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/sagaflow/saga/tracing"
)

// A trace the orchestrator derives from a saga id is sampled as the SDK's
// sampler of OTEL_TRACES_SAMPLER samples a root span of that trace id:
// all of them by default, none with always_off, and with a ratio the same
// ones a ratio sampler keeps, so that every part thins out alike.
func TestSampledRootFollowsTheSampler(t *testing.T) {
	for _, tt := range []struct {
		sampler, arg string
		ratio        float64 // -1: every id sampled; -2: none
	}{
		{"", "", -1},
		{"parentbased_always_on", "", -1},
		{"always_off", "", -2},
		{"parentbased_traceidratio", "0.25", 0.25},
		{"traceidratio", "0.5", 0.5},
	} {
		t.Run(tt.sampler+"="+tt.arg, func(t *testing.T) {
			t.Setenv("OTEL_TRACES_SAMPLER", tt.sampler)
			t.Setenv("OTEL_TRACES_SAMPLER_ARG", tt.arg)
			part := tracing.New(tracetest.NewInMemoryExporter()).Part("orchestrator")
			sampled := 0
			for i := range 400 {
				id := tracing.SagaTraceID(fmt.Sprintf("saga-%d", i))
				got := part.SampledRoot(id)
				want := tt.ratio == -1
				if tt.ratio >= 0 {
					res := sdktrace.TraceIDRatioBased(tt.ratio).ShouldSample(sdktrace.SamplingParameters{TraceID: id, Name: "x"})
					want = res.Decision == sdktrace.RecordAndSample
				}
				if got != want {
					t.Fatalf("saga-%d (trace %s): sampled %v, want %v", i, id, got, want)
				}
				if got {
					sampled++
				}
			}
			if tt.ratio > 0 && (sampled == 0 || sampled == 400) {
				t.Errorf("ratio %.2f sampled %d of 400", tt.ratio, sampled)
			}
		})
	}
	var off *tracing.Part
	if off.SampledRoot(trace.TraceID{1}) {
		t.Error("tracing off samples")
	}
}
