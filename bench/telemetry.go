package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Telemetry is what a run with Options.Telemetry received from the system:
// the OTLP trace exports it sent and the /metrics scrapes it answered, so
// that a report shows both were really on.
type Telemetry struct {
	TraceExports     int64 `json:"trace_exports"`
	TraceBytes       int64 `json:"trace_bytes"`
	MetricsScrapes   int64 `json:"metrics_scrapes"`
	MetricsBytesLast int64 `json:"metrics_bytes_last"`
}

// telemetry is a run's OTLP/HTTP receiver, which reads every export and
// throws it away (the cost measured is the system's, not a collector's),
// and its Prometheus scraper.
type telemetry struct {
	srv     *http.Server
	ln      net.Listener
	metrics string
	exports atomic.Int64
	bytes   atomic.Int64
	scrapes atomic.Int64
	last    atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
}

// scrapeEvery is how often the run scrapes /metrics: Prometheus's common
// interval.
var scrapeEvery = 15 * time.Second

func startTelemetry() (*telemetry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		ln.Close()
		return nil, err
	}
	t := &telemetry{ln: ln, metrics: metricsAddr, stop: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		t.exports.Add(1)
		t.bytes.Add(n)
		// An empty ExportTraceServiceResponse: everything accepted.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	t.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// env and args turn tracing and metrics on in the system's `saga up`.
func (t *telemetry) env() []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + t.ln.Addr().String(), "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"}
}

func (t *telemetry) args() []string { return []string{"--metrics", t.metrics} }

// scrape reads /metrics every scrapeEvery until close.
func (t *telemetry) scrape(ctx context.Context) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		tick := time.NewTicker(scrapeEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.stop:
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.metrics+"/metrics", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.scrapes.Add(1)
				t.last.Store(n)
			}
		}
	}()
}

// close stops the scraper and the receiver (given 5 s to finish, even if
// ctx has ended) and says what they saw.
func (t *telemetry) close(ctx context.Context) Telemetry {
	close(t.stop)
	t.wg.Wait()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = t.srv.Shutdown(ctx)
	return Telemetry{TraceExports: t.exports.Load(), TraceBytes: t.bytes.Load(), MetricsScrapes: t.scrapes.Load(), MetricsBytesLast: t.last.Load()}
}
