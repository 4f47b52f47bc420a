package ui_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
)

// ScreenshotsEnv names the directory the browser test writes its
// screenshots to (a temporary one when unset).
const ScreenshotsEnv = "SAGA_UI_SCREENSHOTS"

// chromium finds the browser: $CHROMIUM, or Debian's.
func chromium() string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// TestBackOffice starts the system for real with the HTTP listener and
// checks who may see the back office, then drives it in chromium: sign in,
// find a booking by its reference and see every step completed, retry a
// parked saga, redrive a dead letter.
func TestBackOffice(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	h := newHarness(t)
	t.Run("access", func(t *testing.T) { checkAccess(t, h) })
	t.Run("actions", func(t *testing.T) { checkActions(t, h) })
	t.Run("browser", func(t *testing.T) { browse(t, h) })
}

func browse(t *testing.T, h *harness) {
	bin := chromium()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium found (apt-get install -y chromium, or set CHROMIUM): the browser test must run in CI")
		}
		t.Skip("no chromium found at /usr/bin/chromium (apt-get install -y chromium, or set CHROMIUM): browser test skipped")
	}
	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	staff, alice := h.token("carl", api.RoleBackoffice), h.token("alice", api.RoleCustomer)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 4*time.Minute)
	defer cancelT()
	// Confirmations by window.confirm are accepted.
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			}()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		run("settle", chromedp.Sleep(300*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	// waitFor reloads url until cond holds of the page's text.
	waitFor := func(url, what string, cond func(body string) bool) {
		t.Helper()
		deadline := time.Now().Add(sagaTimeout)
		var body string
		for time.Now().Before(deadline) {
			run("open "+url, chromedp.Navigate(h.base+url), chromedp.WaitReady(chromedp.CSS("body")))
			if body = text("body"); cond(body) {
				return
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Fatalf("%s: never seen at %s; the page says: %s", what, url, body)
	}
	xp := func(format string, args ...any) chromedp.Search { return chromedp.Search(fmt.Sprintf(format, args...)) }

	// Without a token the back office sends to sign-in.
	run("open /ui/sagas", chromedp.Navigate(h.base+"/ui/sagas"), chromedp.WaitVisible(xp(`//h1[text()="Sign in"]`)))
	if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(url, "/ui/signin") {
		t.Fatalf("without a token /ui/sagas went to %s (%v)", url, err)
	}
	shot("signin")
	run("sign in", chromedp.SendKeys(chromedp.ID("token"), staff), chromedp.Click(xp(`//button[text()="Sign in"]`)),
		chromedp.WaitVisible(xp(`//h1[text()="Sagas"]`)))

	// A booking through the API, found in the list by its reference.
	ref, status := h.book(alice, "show-1", "tok_ok")
	if status != "completed" {
		h.waitSaga(staff, ref, "completed")
	}
	run("search", chromedp.SendKeys(chromedp.CSS(`input[name="ref"]`), ref), chromedp.Click(xp(`//button[text()="Search"]`)),
		chromedp.WaitVisible(xp(`//a[text()=%q]`, ref)))
	shot("sagas")
	run("open the booking", chromedp.Click(xp(`//a[text()=%q]`, ref)), chromedp.WaitVisible(chromedp.CSS(`svg.graph`)))
	states, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg.graph g.step")).map(g => g.getAttribute("data-step")+"="+g.getAttribute("data-status"))`))
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 5 {
		t.Fatalf("the graph has steps %v, want the 5 of book-ticket", states)
	}
	for _, s := range states {
		if !strings.HasSuffix(s, "=completed") {
			t.Errorf("step %s, want completed", s)
		}
	}
	drawn, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("svg.graph").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(drawn, "completed") < 5 || !strings.Contains(drawn, "pivot") || !strings.Contains(drawn, "RefundPayment") {
		t.Errorf("the graph says %q: want completed on each step, the pivot and the compensations", drawn)
	}
	if tl := text("ol.timeline"); !strings.Contains(tl, "SagaStarted") || !strings.Contains(tl, "SagaCompleted") {
		t.Errorf("the timeline says %q", tl)
	}
	// The timeline holds the services' domain events too, each log's
	// applied on its own: the user, booking, payment and notification
	// services' events of this booking, between the saga's.
	waitFor("/ui/sagas/"+ref, "the services' events in the timeline", func(b string) bool {
		for _, want := range []string{"user UserVerified", "booking SeatsReserved", "payment PaymentCharged", "booking BookingConfirmed", "notification NotificationSent"} {
			if !strings.Contains(b, want) {
				return false
			}
		}
		return true
	})
	// The services' own logs, as the read model has them (each log is
	// applied on its own, so wait for them all).
	waitFor("/ui/sagas/"+ref, "the services' logs of a completed booking", func(b string) bool {
		return strings.Contains(b, "confirmed") && strings.Contains(b, "charged ") && !strings.Contains(b, "nothing sent")
	})
	shot("saga-completed")

	// A saga whose refund the processor rejects ends parked as failed;
	// retry from the page, confirmed, resumes it.
	failRef, _ := h.book(alice, "show-cancelled", demo.TokenRefundFails)
	h.waitSaga(staff, failRef, "failed")
	// The watchdog's report comes in the decision that parks it.
	waitFor("/ui/sagas/"+failRef, "the parked saga, reported stuck", func(b string) bool {
		return strings.Contains(b, "Retry") && strings.Contains(b, "An operator must act")
	})
	if s := text("#saga-status"); s != "failed" {
		t.Fatalf("the parked saga shows %q, want failed", s)
	}
	if s := text("#stuck"); !strings.Contains(s, "parked as failed") {
		t.Errorf("the stuck banner says %q", s)
	}
	shot("saga-failed")
	run("retry", chromedp.Click(xp(`//a[text()="Retry"]`)), chromedp.WaitVisible(xp(`//button[text()="Confirm retry"]`)))
	shot("saga-retry-confirm")
	run("confirm", chromedp.SendKeys(chromedp.CSS(`input[name="reason"]`), "processor fixed"),
		chromedp.Click(xp(`//button[text()="Confirm retry"]`)), chromedp.WaitVisible(chromedp.CSS(`p.ok`)))
	if s := text("p.ok"); !strings.Contains(s, "retry sent") {
		t.Errorf("after the retry the page says %q", s)
	}
	waitFor("/ui/sagas/"+failRef, "the retried saga ended compensated, stuck no more", func(b string) bool {
		return strings.Contains(b, "Booking "+failRef+" compensated") && !strings.Contains(b, "An operator must act")
	})
	shot("saga-retried")

	// A malformed request ends on the dead-letter topic; redrive it.
	pub, err := bus.NewPublisher(h.cfg, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	msg := bus.ToMessage(events.Envelope{ID: "ui-poison", Type: events.StartSaga, Version: 1, SagaID: "s", Key: "s",
		Payload: []byte(`{"definition":"book-ticket","data":{"payment_token":"tok_ui_secret"`)})
	if err := pub.Publish(h.cfg.Topic(events.TopicRequests), msg); err != nil {
		t.Fatal(err)
	}
	waitFor("/ui/dlq", "the dead letter", func(b string) bool { return strings.Contains(b, "ui-poison") })
	if b := text("body"); strings.Contains(b, "tok_ui_secret") {
		t.Errorf("the dead-letter page shows a payment token: %s", b)
	}
	shot("dlq")
	run("redrive", chromedp.Click(xp(`//tr[td[text()="ui-poison"]]//button[text()="Redrive"]`)), chromedp.WaitVisible(chromedp.CSS(`p.ok`)))
	if s := text("p.ok"); !strings.Contains(s, "redriven: 1") {
		t.Errorf("after the redrive the page says %q", s)
	}

	// Reconcile: the report, each finding linked to its saga; projections.
	waitFor("/ui/reconcile", "the reconciliation", func(b string) bool { return strings.Contains(b, "Disagreements") })
	shot("reconcile")
	waitFor("/ui/projections", "the projections", func(b string) bool { return strings.Contains(b, "show-1") && strings.Contains(b, "sagas") })
	shot("projections")
	// Definitions: every version, its steps, the current one marked.
	waitFor("/ui/definitions", "the definitions", func(b string) bool {
		return strings.Contains(b, "book-ticket") && strings.Contains(b, "ChargePayment")
	})
	shot("definitions")

	// The overview moves live: its tiles are updated over SSE while
	// bookings are posted.
	run("overview", chromedp.Navigate(h.base+"/ui/"), chromedp.WaitVisible(xp(`//span[@id="live" and text()="live"]`)))
	before := text(`[data-metric="dlq"] output`)
	booked := make(chan struct{})
	go func() {
		defer close(booked)
		for i := range 8 {
			token := []string{"tok_ok", "tok_declined"}[i%2]
			r := h.do("POST", "/v1/bookings", alice, map[string]any{"show_id": "show-1", "seats": 1, "payment_token": token}, nil)
			if r.status != 202 && r.status != 201 {
				t.Errorf("book: %d %s", r.status, r.body)
			}
			time.Sleep(700 * time.Millisecond)
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	moved := false
	for !moved && time.Now().Before(deadline) {
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`[data-metric="started_per_s"] polyline`), "points"))
		if err != nil {
			t.Fatal(err)
		}
		// Ten samples or more, and not all flat: bookings were counted.
		moved = strings.Count(a.Value, ",") >= 10 && strings.Contains(a.Value, ",29.0") && strings.Contains(a.Value, ",1.0")
		time.Sleep(500 * time.Millisecond)
	}
	<-booked
	if !moved {
		t.Errorf("the overview's sparkline of started sagas did not move over SSE")
	}
	if after := text(`[data-metric="dlq"] output`); after == "" || before == "" {
		t.Errorf("the dead-letter tile is empty: %q then %q", before, after)
	}
	for _, m := range []string{"stuck", "projection_lag", "p99_ms"} {
		if v := text(`[data-metric="` + m + `"] output`); v == "" {
			t.Errorf("the overview's %s tile is empty", m)
		}
	}
	shot("overview")
}
