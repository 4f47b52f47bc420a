package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
)

// WriteText prints the report for a person: the headline figures first,
// with the targets they are measured against.
func (r Report) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "broker\t%s\n", r.Broker)
	fmt.Fprintf(tw, "machine\t%d cores, %.1f GiB, %s\n", r.Machine.Cores, float64(r.Machine.MemoryBytes)/(1<<30), r.Machine.CPU)
	fmt.Fprintf(tw, "sagas\t%d (%s), mix %d%% completed / %d%% compensated, outcomes %v\n",
		r.Sagas, rateName(r.Rate), r.Mix.Completed, r.Mix.Compensated, r.Outcomes)
	fmt.Fprintf(tw, "sagas/s\t%.0f\t(target >= 2000 as fast as possible)\n", r.SagasPerSec)
	fmt.Fprintf(tw, "latency ms\tp50 %.1f  p95 %.1f  p99 %.1f  max %.1f\t(target p99 <= 50 at 500/s)\n",
		r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(tw, "records/s\t%.0f\t(%.1f records a saga)\n", r.RecordsPerSec, r.PerSaga)
	for _, raw := range r.Raw {
		fmt.Fprintf(tw, "raw %s\t%.0f records/s\t(%d records)\n", raw.Client, raw.RecordsPerSec, raw.Records)
	}
	if r.RawRecordsPerSec > 0 {
		fmt.Fprintf(tw, "saga/raw\t%.2f\t(target >= 0.5)\n", r.SagaToRaw)
	}
	for _, name := range sortedKeys(r.Steps) {
		l := r.Steps[name]
		fmt.Fprintf(tw, "step %s ms\tp50 %.1f  p99 %.1f  max %.1f\n", name, l.P50, l.P99, l.Max)
	}
	for _, p := range r.Processes {
		fmt.Fprintf(tw, "process %s\tcpu %.1f s (%.2f cores, %.3f ms a saga), peak rss %.0f MiB\n",
			p.Name, p.CPUSeconds, p.CPUCores, p.CPUPerSaga, float64(p.PeakRSS)/(1<<20))
	}
	if rp := r.Replay; rp != nil {
		fmt.Fprintf(tw, "replay\t%.0f events/s rebuilding every read model, raw consume %.0f/s, ratio %.2f\t(%d events; target >= 100k/s and >= 0.5)\n",
			rp.EventsPerSec, rp.RawPerSec, rp.RebuildToRaw, rp.Events)
	}
	if r.Chart != "" {
		fmt.Fprintf(tw, "chart\t%s\n", r.Chart)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
