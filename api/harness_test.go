package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/api/webhook"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
	"github.com/sagaflow/saga/tracing"
)

// sagaTimeout bounds how long a test waits for a saga to end.
const sagaTimeout = 60 * time.Second

var testTimings = flows.Timings{
	StepTimeout:       3 * time.Second,
	StepRetry:         saga.RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
	CompensationRetry: saga.RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
}

// harness is the whole system on the embedded broker (or KAFKA_BROKERS)
// with its read models, and the API on a real listener in front of it.
type harness struct {
	t      *testing.T
	cfg    bus.Config
	db     *readmodel.DB
	issuer *api.Issuer
	ver    *api.Verifier
	hooks  *webhook.Store
	base   string
}

// Webhook timings of the tests: retries come fast and give up soon.
const (
	testBackoff = 50 * time.Millisecond
	testHorizon = 2 * time.Second
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	return startHarness(t, harnessOptions{})
}

// harnessOptions are what some tests change in the harness: a tracer for
// every part and the API, and where the system logs (at info level).
type harnessOptions struct {
	tracer *tracing.Tracer
	log    io.Writer
}

func startHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	cfg := bustest.Start(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	if o.log != nil {
		log = zerolog.New(o.log).Level(zerolog.InfoLevel)
	}
	done := make(chan error, 1)
	dbPath := filepath.Join(dir, readmodel.FileName)
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- system.Run(ctx, system.Config{Bus: cfg, Log: log, Timings: testTimings, SeedShows: true, ReadModel: dbPath, Tracer: o.tracer})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	db, err := readmodel.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	is, err := api.LoadIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := api.NewVerifier(ctx, api.VerifierConfig{Issuer: is})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhook.Open(filepath.Join(dir, webhook.FileName))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := webhook.NewSender(webhook.Config{Bus: cfg, Store: hooks, Log: log, Backoff: testBackoff, MaxBackoff: 4 * testBackoff,
		Horizon: testHorizon, Timeout: 30 * time.Second, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	go func() { sent <- sender.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-sent; err != nil {
			t.Errorf("webhooks: %v", err)
		}
		hooks.Close()
	})
	h := &harness{t: t, cfg: cfg, db: db, issuer: is, ver: ver, hooks: hooks}
	h.base = h.serve(api.Config{RateLimit: -1, SignupRate: -1, Tracer: o.tracer.Part("api")})
	return h
}

// serve starts another API server on the harness's system with c's
// settings (the bus filled in when empty, the verifier and embedded issuer
// when no verifier is given, the read model always), and
// returns its base URL.
func (h *harness) serve(c api.Config) string {
	h.t.Helper()
	if len(c.Bus.Brokers) == 0 {
		c.Bus = h.cfg
	}
	c.ReadModel, c.Webhooks = h.db, h.hooks
	if c.Verifier == nil {
		c.Verifier, c.Issuer = h.ver, h.issuer
	}
	if c.Catalog == nil {
		c.Catalog = demo.Catalog()
	}
	c.Log = zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := api.New(ctx, c)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.ServeListener(ctx, ln, srv, c.Log) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("api: %v", err)
		}
		srv.Close()
	})
	return "http://" + ln.Addr().String()
}

func (h *harness) token(sub string, role api.Role) string {
	h.t.Helper()
	tok, err := h.issuer.Issue(sub, role, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// reply is an answer of the API.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// req is a request to the API: headers as name, value pairs.
type req struct {
	method, path, token string
	body                any
	headers             []string
}

func (h *harness) do(base string, q req) reply {
	h.t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(q.method, base+q.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	for i := 0; i+1 < len(q.headers); i += 2 {
		r.Header.Set(q.headers[i], q.headers[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		h.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// call is do on the harness's own server, failing unless the status is want.
func (h *harness) call(want int, q req) reply {
	h.t.Helper()
	r := h.do(h.base, q)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", q.method, q.path, r.status, want, r.body)
	}
	return r
}

// problem checks that r is a problem+json of status want, and returns it.
func problemOf(t *testing.T, r reply, want int) map[string]any {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, r.body)
	}
	p := r.json(t)
	if int(p["status"].(float64)) != want || p["type"] == "" || p["title"] == "" {
		t.Fatalf("problem %v does not say status %d with a type and title", p, want)
	}
	return p
}

// waitBooking polls a booking until its status is one of want.
func (h *harness) waitBooking(token, ref string, want ...string) map[string]any {
	h.t.Helper()
	var b map[string]any
	bustest.Eventually(h.t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/bookings/" + ref, token: token})
		if r.status != http.StatusOK {
			return false, string(r.body)
		}
		b = r.json(h.t)
		for _, w := range want {
			if b["status"] == w {
				return true, ""
			}
		}
		return false, "status " + b["status"].(string)
	})
	return b
}
