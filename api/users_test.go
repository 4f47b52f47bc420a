package api_test

import (
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
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
	t.Run("invalid phone", func(t *testing.T) {
		d := signup(map[string]any{"user_id": "erin", "name": "Erin", "phone": "12"})
		if d["status"] == "completed" || !strings.Contains(d["reason"].(string), "phone") {
			t.Errorf("sign-up with phone 12 = %v, want failed for the phone", d)
		}
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/users", body: map[string]any{"user_id": "Bad Id", "name": "x", "phone": "+15555550100"}}), 400)
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/signups/no-such"}), 404)
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
}
