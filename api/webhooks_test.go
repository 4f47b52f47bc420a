package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// receiver is a subscriber's endpoint. It checks every delivery's
// signature itself, from the specification (not with the sender's code),
// and answers with status until told otherwise.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	status atomic.Int32
	hold   chan struct{} // when set, requests wait for it to close
	mu     sync.Mutex
	got    []map[string]any
	ids    map[string]int
	bad    []string
}

func newReceiver(t *testing.T, status int, hold chan struct{}) *receiver {
	r := &receiver{t: t, hold: hold, ids: map[string]int{}}
	r.status.Store(int32(status))
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.hold != nil {
		select {
		case <-r.hold:
		case <-req.Context().Done():
			return
		}
	}
	body, _ := io.ReadAll(req.Body)
	id, ts, sig := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	r.mu.Lock()
	defer r.mu.Unlock()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if err != nil || !hmac.Equal([]byte(sig), []byte(want)) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute || id == "" {
		r.bad = append(r.bad, id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	code := int(r.status.Load())
	if code == http.StatusOK {
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		r.ids[id]++
		if r.ids[id] == 1 {
			r.got = append(r.got, m)
		}
	}
	w.WriteHeader(code)
}

// types returns the event types received for a booking, in order.
func (r *receiver) types(ref string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		if d, _ := m["data"].(map[string]any); d["booking_ref"] == ref {
			out = append(out, m["type"].(string))
		}
	}
	return out
}

func (h *harness) subscribe(staff string, r *receiver, events ...string) string {
	h.t.Helper()
	body := map[string]any{"url": r.srv.URL + "/hook"}
	if len(events) > 0 {
		body["events"] = events
	}
	sub := h.call(201, req{method: "POST", path: "/v1/webhooks", token: staff, body: body}).json(h.t)
	r.mu.Lock()
	r.secret = sub["secret"].(string)
	r.mu.Unlock()
	if !strings.HasPrefix(r.secret, "whsec_") {
		h.t.Fatalf("secret %q", r.secret)
	}
	return sub["id"].(string)
}

// TestWebhooks: subscribers get signed deliveries of each booking's end,
// in order per booking; a hanging endpoint delays no other; a failing one
// is retried, parked, listed and redelivered.
func TestWebhooks(t *testing.T) {
	h := newHarness(t)
	staff, alice := h.token("carl", api.RoleBackoffice), h.token("alice", api.RoleCustomer)

	// Who may subscribe, and to what.
	for _, u := range []string{"http://169.254.169.254/latest/meta-data", "https://example.com/hook", "file:///etc/passwd"} {
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/webhooks", token: staff, body: map[string]any{"url": u}}), 400)
	}
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/webhooks", token: staff,
		body: map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"booking.exploded"}}}), 400)
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/webhooks", token: alice, body: map[string]any{"url": "http://127.0.0.1:9/x"}}), 403)

	hold := make(chan struct{})
	good := newReceiver(t, http.StatusOK, nil)
	hanging := newReceiver(t, http.StatusOK, hold)
	failing := newReceiver(t, http.StatusInternalServerError, nil)
	goodID := h.subscribe(staff, good)
	h.subscribe(staff, hanging)
	failID := h.subscribe(staff, failing, "booking.completed")
	defer close(hold)

	list := h.call(200, req{method: "GET", path: "/v1/webhooks", token: staff}).body
	if strings.Contains(string(list), "whsec_") {
		t.Errorf("the list shows secrets: %s", list)
	}

	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=US"})
		return strings.Contains(string(r.body), `"show-1"`), string(r.body)
	})
	ok := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_ok"), headers: []string{"Prefer", "wait=30"}}).json(t)
	declined := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_declined"), headers: []string{"Prefer", "wait=30"}}).json(t)
	ref := ok["booking_ref"].(string)
	h.call(201, req{method: "POST", path: "/v1/bookings/" + ref + "/cancel", token: alice, headers: []string{"Prefer", "wait=30"}})

	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		a, b := good.types(ref), good.types(declined["booking_ref"].(string))
		return strings.Join(a, ",") == "booking.completed,booking.cancelled" && strings.Join(b, ",") == "booking.compensated",
			strings.Join(a, ",") + " / " + strings.Join(b, ",")
	})
	// The hanging endpoint still holds its first attempt: it delayed nothing.
	if n := len(hanging.types(ref)); n != 0 {
		t.Errorf("the hanging endpoint got %d deliveries", n)
	}
	if len(good.bad) > 0 {
		t.Errorf("deliveries whose signature did not verify: %v", good.bad)
	}

	// The failing endpoint: retried until the horizon, then parked.
	var parked []any
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.call(200, req{method: "GET", path: "/v1/webhooks/" + failID + "/deliveries?status=parked", token: staff})
		parked = r.json(t)["deliveries"].([]any)
		return len(parked) == 1, string(r.body)
	})
	d := parked[0].(map[string]any)
	if d["event_type"] != "booking.completed" || d["attempts"].(float64) < 2 || !strings.Contains(d["last_error"].(string), "500") {
		t.Errorf("parked delivery %v, want booking.completed after several 500s", d)
	}
	failing.status.Store(http.StatusOK)
	h.call(202, req{method: "POST", path: "/v1/webhooks/" + failID + "/deliveries/" + d["id"].(string) + "/redeliver", token: staff})
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		got := failing.types(ref)
		return len(got) == 1 && got[0] == "booking.completed", strings.Join(got, ",")
	})
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/webhooks/" + failID + "/deliveries/nope/redeliver", token: staff}), 404)

	// A booking's own callback gets that booking's events, signed with the
	// secret its answer carried; a repeated request makes no second one.
	cb := newReceiver(t, http.StatusOK, nil)
	body := booking("show-1", 1, "tok_ok")
	body["callback_url"] = cb.srv.URL + "/booking"
	first := h.call(202, req{method: "POST", path: "/v1/bookings", token: alice, body: body, headers: []string{"Idempotency-Key", "cb-1"}}).json(t)
	cb.mu.Lock()
	cb.secret = first["callback"].(map[string]any)["secret"].(string)
	cb.mu.Unlock()
	again := h.call(202, req{method: "POST", path: "/v1/bookings", token: alice, body: body, headers: []string{"Idempotency-Key", "cb-1"}}).json(t)
	if again["callback"] != nil && again["callback"].(map[string]any)["secret"] != nil {
		t.Errorf("a repeated request showed a callback secret again: %v", again["callback"])
	}
	cbRef := first["booking_ref"].(string)
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		got := cb.types(cbRef)
		return len(got) == 1 && got[0] == "booking.completed", strings.Join(got, ",")
	})
	if others := cb.types(ref); len(others) != 0 || len(cb.bad) != 0 {
		t.Errorf("the callback got another booking's events %v, or bad signatures %v", others, cb.bad)
	}
	body["callback_url"] = "http://169.254.169.254/latest"
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: body}), 400)

	// Deleting a subscription: it is gone from the list and its deliveries.
	h.call(204, req{method: "DELETE", path: "/v1/webhooks/" + goodID, token: staff})
	problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/webhooks/" + goodID, token: staff}), 404)
	problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/webhooks/" + goodID + "/deliveries", token: staff}), 404)
}
