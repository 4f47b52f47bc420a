package ui_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
)

// checkActions posts the saga page's forms as a back-office member with a
// bearer token: a refusal of the API comes back as an inline message on
// the page, and a cancellation goes through the API, recorded with the
// staff member as its actor.
func checkActions(t *testing.T, h *harness) {
	staff, alice := h.token("erin", api.RoleBackoffice), h.token("alice", api.RoleCustomer)
	// An endpoint that always fails: its deliveries are parked.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	if r := h.do("POST", "/v1/webhooks", staff, map[string]any{"url": down.URL + "/hook", "events": []string{"booking.completed"}}, nil); r.status != http.StatusCreated {
		t.Fatalf("subscribe: %d %s", r.status, r.body)
	}
	ref, status := h.book(alice, "show-1", "tok_ok")
	if status != "completed" {
		h.waitSaga(staff, ref, "completed")
	}
	page := h.do("GET", "/ui/sagas/"+ref+"?confirm=cancel", staff, nil, nil)
	m := csrfField.FindStringSubmatch(page.body)
	if page.status != 200 || m == nil || !strings.Contains(page.body, "Confirm cancellation") || strings.Contains(page.body, "Confirm retry") {
		t.Fatalf("a completed booking's page, asked to confirm a cancellation: %d %s", page.status, page.body)
	}
	csrf := "csrf=" + url.QueryEscape(m[1])
	// Retry of a completed saga: the API's 409, shown on the page.
	r := h.do("POST", "/ui/sagas/"+ref+"/retry", staff, csrf, nil)
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.Contains(loc, "err=") {
		t.Fatalf("retry of a completed saga: %d to %q, want a redirect with the error", r.status, loc)
	}
	shown := h.do("GET", loc, staff, nil, nil)
	if !strings.Contains(shown.body, `role="alert"`) || !strings.Contains(shown.body, "only failed sagas can be retried") {
		t.Errorf("the refusal is not shown inline: %s", shown.body)
	}
	// A message in a link made elsewhere is not shown.
	if b := h.do("GET", "/ui/sagas/"+ref+"?err=Your+session+expired%3A+sign+in+at+evil.example", staff, nil, nil).body; strings.Contains(b, "evil.example") {
		t.Errorf("a forged message is shown: %s", b)
	}
	// Too long a reason: the API's field error, inline.
	r = h.do("POST", "/ui/sagas/"+ref+"/retry", staff, csrf+"&reason="+strings.Repeat("x", 1001), nil)
	if loc := r.header.Get("Location"); !strings.Contains(loc, "err=") {
		t.Errorf("a retry with a 1001-character reason went to %q", loc)
	} else if b := h.do("GET", loc, staff, nil, nil).body; !strings.Contains(b, "reason must be at most 1000 characters") {
		t.Errorf("the field error is not shown: %s", b)
	}
	// Cancel: through POST /v1/bookings/{ref}/cancel as erin.
	r = h.do("POST", "/ui/sagas/"+ref+"/cancel", staff, csrf, nil)
	if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.Contains(loc, "ok=") {
		t.Fatalf("cancel: %d to %q", r.status, loc)
	}
	// The parked delivery of its booking.completed, redelivered from the page.
	var dlq reply
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		dlq = h.do("GET", "/ui/dlq", staff, nil, nil)
		return strings.Contains(dlq.body, ref) && strings.Contains(dlq.body, "HTTP 502"), dlq.body
	})
	form := regexp.MustCompile(`action="(/ui/webhooks/[^"]+/redeliver)"`).FindStringSubmatch(dlq.body)
	if form == nil {
		t.Fatalf("no redeliver form: %s", dlq.body)
	}
	r = h.do("POST", html.UnescapeString(form[1]), staff, csrf, nil)
	if loc := r.header.Get("Location"); r.status != http.StatusSeeOther || !strings.Contains(loc, "ok=") {
		t.Errorf("redeliver: %d to %q", r.status, loc)
	}

	cancelID := events.SagaIDFor("cancel:" + ref)
	h.waitSaga(staff, cancelID, "completed")
	var v struct{ Actor string }
	if err := json.Unmarshal([]byte(h.do("GET", "/v1/sagas/"+cancelID, staff, nil, nil).body), &v); err != nil || v.Actor != "backoffice:erin" {
		t.Errorf("the cancellation's actor is %q (%v), want backoffice:erin", v.Actor, err)
	}
}
