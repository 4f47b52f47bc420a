package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/client"
)

// apiInFlight bounds the HTTP requests in flight: the synchronous style
// holds one per running saga.
const apiInFlight = 512

// HTTPTarget is the HTTP API a run posts through.
type HTTPTarget struct {
	Base, Token string
	// Sync asks for the outcome in the answer (Prefer: wait), else the
	// request is answered 202 at once.
	Sync bool
}

// apiPoster posts bookings through the API and times each request.
type apiPoster struct {
	t      HTTPTarget
	client *http.Client
	sem    chan struct{}
	mu     sync.Mutex
	ms     []float64
	wg     sync.WaitGroup
}

func newAPIPoster(t HTTPTarget) *apiPoster {
	tr := &http.Transport{MaxIdleConnsPerHost: apiInFlight, MaxConnsPerHost: apiInFlight, IdleConnTimeout: time.Minute}
	return &apiPoster{t: t, client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, sem: make(chan struct{}, apiInFlight)}
}

// post sends one booking without waiting for its answer; a failure goes
// to errs.
func (p *apiPoster) post(ctx context.Context, b client.BookRequest, errs chan<- error) error {
	body, _ := json.Marshal(map[string]any{"user_id": b.UserID, "show_id": b.ShowID, "seats": b.Seats, "payment_token": b.PaymentToken})
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.sem }()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.t.Base+"/v1/bookings", bytes.NewReader(body))
		if err != nil {
			report(errs, err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+p.t.Token)
		req.Header.Set("Idempotency-Key", b.IdempotencyKey)
		want := http.StatusAccepted
		if p.t.Sync {
			req.Header.Set("Prefer", "wait=60")
			want = http.StatusCreated
		}
		start := time.Now()
		resp, err := p.client.Do(req)
		if err != nil {
			report(errs, err)
			return
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		ms := float64(time.Since(start).Microseconds()) / 1000
		if resp.StatusCode != want {
			report(errs, fmt.Errorf("POST /v1/bookings: %d, want %d: %s", resp.StatusCode, want, strings.TrimSpace(buf.String())))
			return
		}
		p.mu.Lock()
		p.ms = append(p.ms, ms)
		p.mu.Unlock()
	}()
	return nil
}

func report(errs chan<- error, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	select {
	case errs <- err:
	default:
	}
}

// take waits for the requests in flight and returns their latency.
func (p *apiPoster) take() Latency {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	l := latencyOf(p.ms)
	p.ms = nil
	return l
}

// HTTPReport is `saga bench --via http`: the same sagas posted straight to
// Kafka, then through the API answered at once (202), then through the
// API answered at the saga's end (Prefer: wait), on one running system.
type HTTPReport struct {
	Date    string     `json:"date"`
	Machine Machine    `json:"machine"`
	Broker  string     `json:"broker"`
	Rate    float64    `json:"rate"`
	Kafka   SagaResult `json:"kafka"`
	Async   SagaResult `json:"http_async"`
	Sync    SagaResult `json:"http_sync"`
}

// RunHTTP measures the cost of the HTTP API. The system runs with its
// read models and the API in one process in each of the three runs.
func RunHTTP(ctx context.Context, o Options) (HTTPReport, error) {
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	rep := HTTPReport{Date: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine(), Rate: o.Spec.Rate}
	rep.Broker = "Kafka at " + strings.Join(o.Bus.Brokers, ",")
	if len(o.Bus.Brokers) == 0 {
		rep.Broker = "embedded (kfake, own process, data on disk)"
	}
	addr, err := freeAddr()
	if err != nil {
		return rep, err
	}
	sysDir := filepath.Join(o.DataDir, "system")
	say("starting the system with its read models and the HTTP API on " + addr)
	c, err := startCluster(ctx, o.Exe, o.Bus, o.DataDir, o.CPUProfile, SystemParts+",projections,api", nil,
		"--data-dir", sysDir, "--http", addr, "--rate-limit", "-1")
	if err != nil {
		return rep, err
	}
	defer c.Stop()
	base := "http://" + addr
	if err := waitHealthy(ctx, base); err != nil {
		return rep, err
	}
	is, err := api.LoadIssuer(sysDir)
	if err != nil {
		return rep, err
	}
	token, err := is.Issue("bench", api.RoleBackoffice, 24*time.Hour)
	if err != nil {
		return rep, err
	}
	runs := []struct {
		name string
		http *HTTPTarget
		out  *SagaResult
	}{
		{"straight to Kafka", nil, &rep.Kafka},
		{"through the API, answered at once (202)", &HTTPTarget{Base: base, Token: token}, &rep.Async},
		{"through the API, answered at the end (Prefer: wait)", &HTTPTarget{Base: base, Token: token, Sync: true}, &rep.Sync},
	}
	for _, r := range runs {
		spec := o.Spec
		spec.HTTP = r.http
		say(fmt.Sprintf("%d sagas %s", spec.Sagas, r.name))
		res, err := RunSagas(ctx, c.Bus, spec)
		if err != nil {
			if alive := c.Alive(); alive != nil {
				err = fmt.Errorf("%w; %w", err, alive)
			}
			return rep, fmt.Errorf("%s: %w", r.name, err)
		}
		*r.out = res
	}
	return rep, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(base + "/v1/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the HTTP API at %s did not answer: %w", base, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitShowsListed waits until the API's read model has every show: the
// API refuses a booking of a show it does not know.
func waitShowsListed(ctx context.Context, base string, shows []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, id := range shows {
		for {
			resp, err := http.Get(base + "/v1/shows/" + id)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("show %s not in the API's read model: %w", id, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// WriteText prints the three runs side by side, and what the API costs.
func (r HTTPReport) WriteText(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "broker\t%s\n", r.Broker)
	fmt.Fprintf(tw, "machine\t%d cores, %.1f GiB, %s\n", r.Machine.Cores, float64(r.Machine.MemoryBytes)/(1<<30), r.Machine.CPU)
	fmt.Fprintf(tw, "rate\t%s\n", rateName(r.Rate))
	fmt.Fprintf(tw, "\tsagas/s\tsaga p50 ms\tsaga p99 ms\trequest p50 ms\trequest p99 ms\n")
	row := func(name string, s SagaResult) {
		req := "-\t-"
		if s.API != nil {
			req = fmt.Sprintf("%.1f\t%.1f", s.API.P50, s.API.P99)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%.1f\t%s\n", name, s.SagasPerSec, s.Latency.P50, s.Latency.P99, req)
	}
	row("kafka", r.Kafka)
	row("http async (202)", r.Async)
	row("http sync (wait)", r.Sync)
	_ = tw.Flush()
	if r.Kafka.SagasPerSec > 0 {
		fmt.Fprintf(w, "api cost: async %.1f%% of sagas/s, %+.1f ms at saga p99; sync %.1f%% of sagas/s, %+.1f ms at saga p99 (goal <= 10%%, <= 2 ms at 200/s)\n",
			100*(1-r.Async.SagasPerSec/r.Kafka.SagasPerSec), r.Async.Latency.P99-r.Kafka.Latency.P99,
			100*(1-r.Sync.SagasPerSec/r.Kafka.SagasPerSec), r.Sync.Latency.P99-r.Kafka.Latency.P99)
	}
}
