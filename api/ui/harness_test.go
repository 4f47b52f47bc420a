package ui_test

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
	"github.com/sagaflow/saga/api/ui"
	"github.com/sagaflow/saga/api/webhook"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/catalogue"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/system"
)

// sagaTimeout bounds how long a test waits for a saga to end.
const sagaTimeout = 60 * time.Second

var testTimings = flows.Timings{
	StepTimeout:       3 * time.Second,
	StepRetry:         saga.RetryPolicy{MaxAttempts: 3, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
	CompensationRetry: saga.RetryPolicy{MaxAttempts: 5, Backoff: 100 * time.Millisecond, MaxBackoff: time.Second},
}

// harness is the whole system on the embedded broker (or KAFKA_BROKERS)
// with the API and the back office on a real listener, as `saga up
// --http` runs them.
type harness struct {
	t      *testing.T
	cfg    bus.Config
	db     *readmodel.DB
	issuer *api.Issuer
	base   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := bustest.Start(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	dbPath := filepath.Join(dir, readmodel.FileName)
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- system.Run(ctx, system.Config{Bus: cfg, Log: log, Timings: testTimings, SeedShows: true, ReadModel: dbPath})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("system: %v", err)
		}
	})
	db, err := readmodel.Open(context.Background(), dbPath, readmodel.WithCatalog(demo.Catalog()))
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
	sender, err := webhook.NewSender(webhook.Config{Bus: cfg, Store: hooks, Log: log, Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Horizon: 2 * time.Second, Timeout: 30 * time.Second, Poll: 20 * time.Millisecond})
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
	// One catalogue of definitions for the API and the pages, as saga up has.
	defs := catalogue.NewCache(cfg, nil)
	srv, err := api.New(ctx, api.Config{Bus: cfg, ReadModel: db, Verifier: ver, Issuer: is, Log: log, RateLimit: -1, SignupRate: -1,
		Catalog: demo.Catalog(), Webhooks: hooks, Definitions: defs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ui.Mount(srv, ui.Config{API: srv, Verifier: ver, ReadModel: db, Namespace: cfg.Namespace, Bus: cfg, Definitions: flows.All(), Catalogue: defs, Log: log}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(ctx, ln, srv, log) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("api: %v", err)
		}
		srv.Close()
	})
	h := &harness{t: t, cfg: cfg, db: db, issuer: is, base: "http://" + ln.Addr().String()}
	// The demo shows are seeded through sagas: wait until they are on sale.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do("GET", "/v1/shows?country=US", "", nil, nil)
		return r.status == 200 && strings.Contains(r.body, `"show-1"`) && strings.Contains(r.body, `"show-cancelled"`), r.body
	})
	return h
}

func (h *harness) token(sub string, role api.Role) string {
	h.t.Helper()
	tok, err := h.issuer.Issue(sub, role, time.Hour)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   string
}

// noRedirect is a client that shows redirects rather than following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request: a JSON body unless body is a string (then a form),
// the token as a bearer unless cookies are given.
func (h *harness) do(method, path, token string, body any, cookies []*http.Cookie, headers ...string) reply {
	h.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/x-www-form-urlencoded"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	r, err := http.NewRequest(method, h.base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(r)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

// book posts a booking as token and waits for its end; it returns the
// booking's reference and status.
func (h *harness) book(token, show, payment string) (ref, status string) {
	h.t.Helper()
	r := h.do("POST", "/v1/bookings", token, map[string]any{"show_id": show, "seats": 1, "payment_token": payment}, nil, "Prefer", "wait=30")
	if r.status != 201 && r.status != 202 {
		h.t.Fatalf("book: %d %s", r.status, r.body)
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(r.body), &b); err != nil {
		h.t.Fatal(err)
	}
	ref, _ = b["booking_ref"].(string)
	status, _ = b["status"].(string)
	return ref, status
}

// waitSaga polls the saga of a booking until its status is want.
func (h *harness) waitSaga(staff, ref, want string) {
	h.t.Helper()
	bustest.Eventually(h.t, sagaTimeout, func() (bool, string) {
		r := h.do("GET", "/v1/sagas/"+ref, staff, nil, nil)
		var v struct{ Status string }
		_ = json.Unmarshal([]byte(r.body), &v)
		return r.status == 200 && v.Status == want, r.body
	})
}
