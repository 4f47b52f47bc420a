package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
)

// TestSignup: an anonymous visitor signs up and books with the token the
// sign-up gives; a duplicate and an invalid phone fail with their reasons;
// the back office blocks and unblocks a user, and VerifyUser follows.
func TestSignup(t *testing.T) {
	h := newHarness(t)
	staff := h.token("carl", api.RoleBackoffice)
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=US"})
		return r.status == 200 && strings.Contains(string(r.body), `"show-1"`), string(r.body)
	})
	wait := []string{"Prefer", "wait=30"}
	signup := func(body map[string]any) map[string]any {
		t.Helper()
		r := h.call(200, req{method: "POST", path: "/v1/users", body: body, headers: wait})
		if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "/v1/signups/") {
			t.Fatalf("sign-up Location %q", loc)
		}
		return r.json(t)
	}
	book := func(token string) map[string]any {
		t.Helper()
		return h.call(201, req{method: "POST", path: "/v1/bookings", token: token, body: booking("show-1", 1, "tok_ok"), headers: wait}).json(t)
	}

	dave := map[string]any{"user_id": "dave", "name": "Dave", "phone": "+15555550199"}
	s := signup(dave)
	tok, _ := s["token"].(string)
	if s["status"] != "completed" || tok == "" {
		t.Fatalf("sign-up = %v, want completed with a token", s)
	}
	again := h.call(200, req{method: "GET", path: "/v1/signups/" + s["signup_id"].(string)}).json(t)
	if again["status"] != "completed" || again["user_id"] != "dave" {
		t.Errorf("GET the sign-up = %v", again)
	}
	if b := book(tok); b["status"] != "completed" {
		t.Errorf("dave's booking = %v, want completed", b)
	}

	t.Run("duplicate", func(t *testing.T) {
		d := signup(map[string]any{"user_id": "dave", "name": "Another Dave", "phone": "+15555550198"})
		if d["status"] == "completed" || !strings.Contains(d["reason"].(string), "taken") || d["token"] != nil {
			t.Errorf("duplicate sign-up = %v, want failed as taken, without a token", d)
		}
		if b := book(tok); b["status"] != "completed" {
			t.Errorf("the first dave's booking after the duplicate = %v, want completed", b)
		}
		a := signup(map[string]any{"user_id": "alice", "name": "Alice", "phone": "+15555550101"})
		if a["status"] == "completed" || !strings.Contains(a["reason"].(string), "taken") {
			t.Errorf("sign-up as the demo's alice = %v, want taken", a)
		}
	})
	t.Run("idempotency key", func(t *testing.T) {
		key := []string{"Prefer", "wait=30", "Idempotency-Key", "signup-grace"}
		grace := map[string]any{"user_id": "grace", "name": "Grace", "phone": "+15555550196"}
		first := h.call(200, req{method: "POST", path: "/v1/users", body: grace, headers: key}).json(t)
		again := h.call(200, req{method: "POST", path: "/v1/users", body: grace, headers: key}).json(t)
		if first["status"] != "completed" || again["signup_id"] != first["signup_id"] || again["status"] != "completed" {
			t.Errorf("a repeated key answered %v, then %v; want the same completed sign-up", first, again)
		}
		grace["phone"] = "+15555550195"
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/users", body: grace, headers: key}), 409)
	})
	t.Run("invalid phone", func(t *testing.T) {
		d := signup(map[string]any{"user_id": "erin", "name": "Erin", "phone": "12"})
		if d["status"] == "completed" || !strings.Contains(d["reason"].(string), "phone") {
			t.Errorf("sign-up with phone 12 = %v, want failed for the phone", d)
		}
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/users", body: map[string]any{"user_id": "Bad Id", "name": "x", "phone": "+15555550100"}}), 400)
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/signups/no-such"}), 404)
	})
	t.Run("anonymous sign-ups have a rate limit of their own", func(t *testing.T) {
		base := h.serve(api.Config{RateLimit: -1, SignupRate: 0.001, SignupBurst: 2})
		body := func(id string) map[string]any {
			return map[string]any{"user_id": id, "name": "Rate " + id, "phone": "+15555550150"}
		}
		for _, id := range []string{"rate-a", "rate-b"} {
			if r := h.do(base, req{method: "POST", path: "/v1/users", body: body(id)}); r.status != 202 {
				t.Fatalf("sign-up %s within the burst: %d %s", id, r.status, r.body)
			}
		}
		r := h.do(base, req{method: "POST", path: "/v1/users", body: body("rate-c")})
		problemOf(t, r, 429)
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("429 with Retry-After %q, want seconds to wait", ra)
		}
		if r := h.do(base, req{method: "GET", path: "/v1/shows?country=US"}); r.status != 200 {
			t.Errorf("browsing after the sign-up limit: %d, want 200", r.status)
		}
		if r := h.do(base, req{method: "PUT", path: "/v1/users/me", token: h.token("rate-d", api.RoleCustomer), body: body("rate-d")}); r.status == 429 {
			t.Errorf("a signed-in registration was held to the anonymous sign-up limit")
		}
	})
	t.Run("block and unblock", func(t *testing.T) {
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/users/dave/block", token: tok}), 403)
		if v := h.call(200, req{method: "POST", path: "/v1/users/dave/block", token: staff, headers: wait}).json(t); v["status"] != "completed" {
			t.Fatalf("block = %v", v)
		}
		if b := book(tok); b["status"] == "completed" || !strings.Contains(b["reason"].(string), "blocked") {
			t.Errorf("a blocked user's booking = %v, want refused at VerifyUser", b)
		}
		if v := h.call(200, req{method: "POST", path: "/v1/users/dave/unblock", token: staff, headers: wait}).json(t); v["status"] != "completed" {
			t.Fatalf("unblock = %v", v)
		}
		if b := book(tok); b["status"] != "completed" {
			t.Errorf("an unblocked user's booking = %v, want completed", b)
		}
	})
	t.Run("profile under the token's subject", func(t *testing.T) {
		frank := h.token("frank", api.RoleCustomer)
		problemOf(t, h.do(h.base, req{method: "PUT", path: "/v1/users/me", token: frank, body: map[string]any{"user_id": "dave", "name": "F", "phone": "+15555550197"}}), 403)
		v := h.call(200, req{method: "PUT", path: "/v1/users/me", token: frank, body: map[string]any{"name": "Frank", "phone": "+15555550197"}, headers: wait}).json(t)
		if v["status"] != "completed" || v["user_id"] != "frank" {
			t.Fatalf("PUT /v1/users/me = %v", v)
		}
		if b := book(frank); b["status"] != "completed" {
			t.Errorf("frank's booking = %v, want completed", b)
		}
	})
	t.Run("a malformed sign-up is a dead letter, visible and redrivable", func(t *testing.T) {
		pub, err := bus.NewPublisher(h.cfg, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		key := "signup:poison-1"
		data, _ := json.Marshal(events.UserData{UserID: "Not An Id", Name: "X", Phone: "+15555550100"})
		e, err := events.New("signup-poison", events.StartSaga, events.StartSagaV1{Definition: flows.UserSignup, IdempotencyKey: key, BookingRef: "Not An Id", Data: data},
			events.Trace{SagaID: events.SagaIDFor(key), CorrelationID: "Not An Id", Actor: "anonymous"}, events.SagaIDFor(key), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := pub.Publish(h.cfg.Topic(events.TopicRequests), bus.ToMessage(e)); err != nil {
			t.Fatal(err)
		}
		bustest.Eventually(t, sagaTimeout, func() (bool, string) {
			r := h.do(h.base, req{method: "GET", path: "/v1/dlq", token: staff})
			return strings.Contains(string(r.body), "signup-poison") && strings.Contains(string(r.body), "invalid user-signup request"), string(r.body)
		})
		if red := h.call(202, req{method: "POST", path: "/v1/dlq/signup-poison/redrive", token: staff}).json(t); red["topic"] != events.TopicRequests {
			t.Errorf("redriven = %v", red)
		}
	})
}
