package api_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/events"
)

func booking(show string, seats int, token string) map[string]any {
	return map[string]any{"show_id": show, "seats": seats, "payment_token": token}
}

// TestAPI drives every endpoint with every role against one running
// system: each subtest is a user's story, in order.
func TestAPI(t *testing.T) {
	h := newHarness(t)
	alice, bob := h.token("alice", api.RoleCustomer), h.token("bob", api.RoleCustomer)
	staff := h.token("carl", api.RoleBackoffice)
	// The demo shows are seeded through sagas: wait until they are on sale.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=US"})
		// Every show the stories use: the seeds land on different
		// partitions, which the read model may reach at different times.
		return r.status == 200 && strings.Contains(string(r.body), `"show-1"`) && strings.Contains(string(r.body), `"show-small"`), string(r.body)
	})

	t.Run("anonymous", func(t *testing.T) {
		shows := h.call(200, req{method: "GET", path: "/v1/shows?country=US&state=IL"}).json(t)["shows"].([]any)
		if len(shows) != 1 || shows[0].(map[string]any)["show_id"] != "show-1" {
			t.Errorf("shows in US/IL = %v, want show-1 alone", shows)
		}
		p := problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/shows"}), 400)
		if !strings.Contains(fmt.Sprint(p["errors"]), "field:country") {
			t.Errorf("a search without country: %v, want a field error on country", p)
		}
		h.call(200, req{method: "GET", path: "/v1/shows/show-1"})
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/shows/no-such-show"}), 404)
		h.call(200, req{method: "GET", path: "/v1/health"})
		if doc := h.call(200, req{method: "GET", path: "/v1/openapi.json"}).json(t); doc["openapi"] != "3.1.0" {
			t.Errorf("openapi document says %v", doc["openapi"])
		}
		keys := h.call(200, req{method: "GET", path: "/.well-known/jwks.json"}).json(t)["keys"].([]any)
		if len(keys) != 1 || keys[0].(map[string]any)["alg"] != "EdDSA" || keys[0].(map[string]any)["d"] != nil {
			t.Errorf("jwks = %v, want one public EdDSA key", keys)
		}
		r := h.do(h.base, req{method: "POST", path: "/v1/bookings", body: booking("show-1", 1, "tok_ok")})
		problemOf(t, r, 401)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 without WWW-Authenticate: %v", r.header)
		}
		for _, path := range []string{"/v1/users/me/bookings", "/v1/sagas", "/v1/dlq", "/v1/reconcile", "/v1/bookings/BK-X"} {
			problemOf(t, h.do(h.base, req{method: "GET", path: path}), 401)
		}
	})

	var ref string
	t.Run("a customer books synchronously; another customer cannot see or cancel it; back office can", func(t *testing.T) {
		r := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 2, "tok_ok"),
			headers: []string{"Prefer", "wait=30", "Idempotency-Key", "api-sync-1"}})
		b := r.json(t)
		ref = b["booking_ref"].(string)
		if b["status"] != "completed" || b["user_id"] != "alice" || b["actor"] != "alice" || len(b["steps"].([]any)) != 5 {
			t.Fatalf("sync booking = %v, want completed for alice with 5 steps", b)
		}
		if r.header.Get("Location") != "/v1/bookings/"+ref || b["saga_id"] != events.SagaIDFor("api-sync-1") {
			t.Errorf("Location %q, saga %v: want the booking's and the key's", r.header.Get("Location"), b["saga_id"])
		}
		h.call(200, req{method: "GET", path: "/v1/bookings/" + ref, token: alice})
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/bookings/" + ref, token: bob}), 404)
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/bookings/" + ref + "/events", token: bob}), 404)
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings/" + ref + "/cancel", token: bob}), 404)
		mine := h.call(200, req{method: "GET", path: "/v1/users/me/bookings", token: alice}).body
		if !strings.Contains(string(mine), ref) {
			t.Errorf("alice's bookings %s lack %s", mine, ref)
		}
		if theirs := h.call(200, req{method: "GET", path: "/v1/users/me/bookings", token: bob}).body; strings.Contains(string(theirs), ref) {
			t.Errorf("bob's bookings %s hold alice's %s", theirs, ref)
		}
		h.call(200, req{method: "GET", path: "/v1/bookings/" + ref, token: staff})
	})

	t.Run("the same key repeats the booking; the same key with another body is 409", func(t *testing.T) {
		again := h.call(201, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 2, "tok_ok"),
			headers: []string{"Prefer", "wait=5", "Idempotency-Key", "api-sync-1"}}).json(t)
		if again["booking_ref"] != ref || again["status"] != "completed" {
			t.Errorf("repeat = %v, want booking %s completed", again, ref)
		}
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 3, "tok_ok"),
			headers: []string{"Idempotency-Key", "api-sync-1"}}), 409)
		// Another customer reusing the key gets a conflict, not the booking.
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: bob, body: booking("show-1", 2, "tok_ok"),
			headers: []string{"Idempotency-Key", "api-sync-1"}}), 409)
		// Keys the product derives for its own sagas are refused.
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 2, "tok_ok"),
			headers: []string{"Idempotency-Key", "cancel:" + ref}}), 400)
	})

	t.Run("an asynchronous booking is followed to its end by SSE", func(t *testing.T) {
		r := h.call(202, req{method: "POST", path: "/v1/bookings", token: bob, body: booking("show-1", 1, "tok_declined")})
		b := r.json(t)
		aref := b["booking_ref"].(string)
		if r.header.Get("Location") != "/v1/bookings/"+aref {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		types, end := h.stream(bob, aref)
		if end["status"] != "compensated" || !strings.Contains(types, "SagaStarted") || !strings.HasSuffix(types, "SagaCompensated") {
			t.Errorf("stream: events %s, end %v; want SagaStarted .. SagaCompensated and a compensated end", types, end)
		}
		final := h.waitBooking(bob, aref, "compensated")
		if final["reason"] == "" {
			t.Errorf("compensated booking without a reason: %v", final)
		}
	})

	t.Run("customers book for themselves; back office books for a customer and is recorded", func(t *testing.T) {
		body := booking("show-1", 1, "tok_ok")
		body["user_id"] = "bob"
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: body}), 403)
		noUser := h.do(h.base, req{method: "POST", path: "/v1/bookings", token: staff, body: booking("show-1", 1, "tok_ok")})
		if p := problemOf(t, noUser, 400); !strings.Contains(fmt.Sprint(p["errors"]), "field:user_id") {
			t.Errorf("back office without user_id: %v", p)
		}
		b := h.call(201, req{method: "POST", path: "/v1/bookings", token: staff, body: body, headers: []string{"Prefer", "wait=30"}}).json(t)
		if b["user_id"] != "bob" || b["actor"] != "backoffice:carl" || b["status"] != "completed" {
			t.Errorf("booking on behalf = %v, want bob's, acted by backoffice:carl, completed", b)
		}
		h.call(200, req{method: "GET", path: "/v1/bookings/" + b["booking_ref"].(string), token: bob})
	})

	t.Run("back office cancels a customer's booking", func(t *testing.T) {
		c := h.call(201, req{method: "POST", path: "/v1/bookings/" + ref + "/cancel", token: staff, headers: []string{"Prefer", "wait=30"}}).json(t)
		cancel := c["cancellation"].(map[string]any)
		if c["status"] != "cancelled" || cancel["status"] != "completed" {
			t.Fatalf("cancel = %v, want cancelled", c)
		}
		s := h.call(200, req{method: "GET", path: "/v1/sagas/" + cancel["saga_id"].(string), token: staff}).json(t)
		if s["actor"] != "backoffice:carl" || s["definition"] != "cancel-booking" {
			t.Errorf("cancel saga = %v, want cancel-booking by backoffice:carl", s)
		}
		// Cancelling again is the same cancellation.
		again := h.call(201, req{method: "POST", path: "/v1/bookings/" + ref + "/cancel", token: alice, headers: []string{"Prefer", "wait=5"}}).json(t)
		if again["cancellation"].(map[string]any)["saga_id"] != cancel["saga_id"] {
			t.Errorf("second cancel = %v, want the first cancellation", again)
		}
	})

	t.Run("a customer may not use the back office", func(t *testing.T) {
		for _, q := range []req{
			{method: "GET", path: "/v1/sagas"}, {method: "GET", path: "/v1/sagas/x"}, {method: "POST", path: "/v1/sagas/x/retry"},
			{method: "GET", path: "/v1/dlq"}, {method: "POST", path: "/v1/dlq/x/redrive"}, {method: "GET", path: "/v1/reconcile"},
			{method: "POST", path: "/v1/shows", body: map[string]any{}},
		} {
			q.token = alice
			problemOf(t, h.do(h.base, q), 403)
		}
	})

	t.Run("back office lists sagas page by page", func(t *testing.T) {
		all := h.call(200, req{method: "GET", path: "/v1/sagas?limit=500", token: staff}).json(t)["sagas"].([]any)
		var paged []any
		cursor := ""
		for range len(all) + 1 {
			path := "/v1/sagas?limit=2"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			page := h.call(200, req{method: "GET", path: path, token: staff}).json(t)
			paged = append(paged, page["sagas"].([]any)...)
			next, _ := page["next_cursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(paged) != len(all) || len(all) < 5 {
			t.Errorf("paged through %d sagas, listed %d", len(paged), len(all))
		}
		books := h.call(200, req{method: "GET", path: "/v1/sagas?definition=book-ticket&status=compensated", token: staff}).json(t)["sagas"].([]any)
		if len(books) != 1 {
			t.Errorf("compensated book-ticket sagas = %v, want 1", books)
		}
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/sagas?limit=0&status=nope&cursor=%%%", token: staff}), 400)
	})

	t.Run("back office adds a show", func(t *testing.T) {
		show := map[string]any{"show_id": "api-show", "title": "T", "venue": "V", "country": "FR", "capacity": 3, "price_cents": 1000}
		r := h.call(202, req{method: "POST", path: "/v1/shows", token: staff, body: show})
		if r.header.Get("Location") != "/v1/shows/api-show" {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		bustest.Eventually(t, sagaTimeout, func() (bool, string) {
			r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=FR"})
			return strings.Contains(string(r.body), "api-show"), string(r.body)
		})
		bad := h.do(h.base, req{method: "POST", path: "/v1/shows", token: staff, body: map[string]any{"show_id": "x", "title": "", "venue": "", "country": "usa", "capacity": 0, "price_cents": 0}})
		p := problemOf(t, bad, 400)
		for _, f := range []string{"title", "venue", "country", "capacity"} {
			if !strings.Contains(fmt.Sprint(p["errors"]), "field:"+f+" ") {
				t.Errorf("bad show: %v, want a field error on %s", p, f)
			}
		}
	})

	t.Run("back office retries a failed saga", func(t *testing.T) {
		b := h.call(202, req{method: "POST", path: "/v1/bookings", token: staff,
			body: map[string]any{"user_id": "alice", "show_id": "show-cancelled", "seats": 1, "payment_token": "tok_refund_fails"}}).json(t)
		final := h.waitBooking(staff, b["booking_ref"].(string), "failed")
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/sagas/" + events.SagaIDFor("api-sync-1") + "/retry", token: staff}), 409)
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/sagas/no-such-saga/retry", token: staff}), 404)
		r := h.call(202, req{method: "POST", path: "/v1/sagas/" + final["saga_id"].(string) + "/retry", token: staff,
			body: map[string]any{"reason": "refunds fixed"}})
		if r.header.Get("Location") != "/v1/sagas/"+final["saga_id"].(string) {
			t.Errorf("Location %q", r.header.Get("Location"))
		}
		bustest.Eventually(t, sagaTimeout, func() (bool, string) {
			s := h.do(h.base, req{method: "GET", path: "/v1/sagas/" + final["saga_id"].(string), token: staff})
			return strings.Contains(string(s.body), "SagaResumed"), string(s.body)
		})
	})

	t.Run("back office lists and redrives dead letters, and reconciles", func(t *testing.T) {
		pub, err := bus.NewPublisher(h.cfg, watermill.NopLogger{})
		if err != nil {
			t.Fatal(err)
		}
		defer pub.Close()
		// A truncated request that holds a payment token, and more letters
		// than a page.
		poison := `{"definition":"book-ticket","data":{"payment_token":"tok_api_secret"`
		msg := bus.ToMessage(events.Envelope{ID: "api-poison", Type: events.StartSaga, Version: 1, SagaID: "s", Key: "s", Payload: []byte(poison)})
		if err := pub.Publish(h.cfg.Topic(events.TopicRequests), msg); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			msg := bus.ToMessage(events.Envelope{ID: fmt.Sprintf("api-poison-%d", i), Type: events.StartSaga, Version: 1, SagaID: "s", Key: "s", Payload: []byte("{not json")})
			if err := pub.Publish(h.cfg.Topic(events.TopicRequests), msg); err != nil {
				t.Fatal(err)
			}
		}
		var letters []any
		bustest.Eventually(t, sagaTimeout, func() (bool, string) {
			letters = nil
			path := "/v1/dlq?limit=2"
			for range 20 {
				r := h.do(h.base, req{method: "GET", path: path, token: staff})
				page := r.json(t)
				got, _ := page["letters"].([]any)
				if len(got) > 2 {
					t.Fatalf("a page of limit 2 holds %d letters", len(got))
				}
				letters = append(letters, got...)
				next, _ := page["next_cursor"].(string)
				if next == "" {
					break
				}
				path = "/v1/dlq?limit=2&cursor=" + next
			}
			return len(letters) >= 4, fmt.Sprint(letters)
		})
		ids := map[string]map[string]any{}
		for _, l := range letters {
			ids[l.(map[string]any)["id"].(string)] = l.(map[string]any)
		}
		if len(ids) != len(letters) {
			t.Errorf("the pages list a letter twice: %v", letters)
		}
		d := ids["api-poison"]
		if d == nil || strings.Contains(fmt.Sprint(d), "tok_api_secret") || !strings.Contains(d["payload"].(string), events.Redacted) {
			t.Errorf("the letter of a request with a payment token, as listed: %v", d)
		}
		problemOf(t, h.do(h.base, req{method: "GET", path: "/v1/dlq?cursor=bm9wZQ", token: staff}), 400)
		red := h.call(202, req{method: "POST", path: "/v1/dlq/api-poison/redrive", token: staff}).json(t)
		if red["topic"] != events.TopicRequests {
			t.Errorf("redriven = %v", red)
		}
		// The redrive sent the message as it was, token and all: the
		// record on the requests topic is the original.
		var sent []byte
		if err := bus.ReadAll(t.Context(), h.cfg, h.cfg.Topic(events.TopicRequests), func(r bus.Record) error {
			if r.Headers[client.HeaderRedrivenFromOffset] != "" && r.Headers[bus.HeaderID] == "api-poison" {
				sent = r.Value
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if string(sent) != poison {
			t.Errorf("the redriven record holds %q, want the original %q", sent, poison)
		}
		problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/dlq/no-such-letter/redrive", token: staff}), 404)
		rec := h.call(200, req{method: "GET", path: "/v1/reconcile", token: staff}).json(t)
		if _, ok := rec["findings"]; !ok {
			t.Errorf("reconcile = %v", rec)
		}
	})

	t.Run("bad input is problem+json", func(t *testing.T) {
		cases := []struct {
			name string
			q    req
			want int
		}{
			{"not JSON", req{method: "POST", path: "/v1/bookings", token: alice, body: "{"}, 400},
			{"unknown field", req{method: "POST", path: "/v1/bookings", token: alice, body: `{"show_id":"show-1","seats":1,"payment_token":"t","x":1}`}, 400},
			{"wrong type", req{method: "POST", path: "/v1/bookings", token: alice, body: `{"show_id":"show-1","seats":"one","payment_token":"t"}`}, 400},
			{"invalid booking", req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 11, "")}, 400},
			{"unknown show", req{method: "POST", path: "/v1/bookings", token: alice, body: booking("no-such-show", 1, "tok_ok")}, 400},
			{"two values", req{method: "POST", path: "/v1/bookings", token: alice, body: `{} {}`}, 400},
			{"text body", req{method: "POST", path: "/v1/bookings", token: alice, body: "{}", headers: []string{"Content-Type", "text/plain"}}, 415},
			{"too large", req{method: "POST", path: "/v1/bookings", token: alice, body: `{"show_id":"` + strings.Repeat("x", 70<<10) + `"}`}, 413},
			{"bad key", req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_ok"), headers: []string{"Idempotency-Key", strings.Repeat("k", 201)}}, 400},
			{"method", req{method: "DELETE", path: "/v1/bookings"}, 405},
			{"no route", req{method: "GET", path: "/v2/nothing"}, 404},
			{"missing field", req{method: "POST", path: "/v1/bookings", token: alice, body: `{"show_id":"show-1","payment_token":"t"}`}, 400},
			{"null field", req{method: "POST", path: "/v1/bookings", token: alice, body: `{"show_id":"show-1","seats":null,"payment_token":"t"}`}, 400},
			{"repeated parameter", req{method: "GET", path: "/v1/shows?country=US&country=FR"}, 400},
			{"country of two bytes that is one letter", req{method: "GET", path: "/v1/shows?country=%C3%85"}, 400},
			{"lower-case country", req{method: "GET", path: "/v1/shows?country=us"}, 400},
			{"state too long", req{method: "GET", path: "/v1/shows?country=US&state=" + strings.Repeat("x", 65)}, 400},
			{"empty key", req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, "tok_ok"), headers: []string{"Idempotency-Key", ""}}, 400},
			{"no booking", req{method: "GET", path: "/v1/bookings/BK-NOPE", token: alice}, 404},
			{"not bearer", req{method: "GET", path: "/v1/health", headers: []string{"Authorization", "Basic YTpi"}}, 401},
		}
		for _, c := range cases {
			r := h.do(h.base, c.q)
			p := problemOf(t, r, c.want)
			if c.want == 405 && r.header.Get("Allow") != "POST" {
				t.Errorf("%s: Allow %q", c.name, r.header.Get("Allow"))
			}
			if c.name == "invalid booking" && (!strings.Contains(fmt.Sprint(p["errors"]), "field:seats") || !strings.Contains(fmt.Sprint(p["errors"]), "field:payment_token")) {
				t.Errorf("%s: %v, want field errors on seats and payment_token", c.name, p)
			}
		}
	})

	t.Run("a busy identity is rate limited, others are not", func(t *testing.T) {
		base := h.serve(api.Config{RateLimit: 0.001, Burst: 2})
		for range 2 {
			if r := h.do(base, req{method: "GET", path: "/v1/users/me/bookings", token: alice}); r.status != 200 {
				t.Fatalf("within the burst: %d %s", r.status, r.body)
			}
		}
		r := h.do(base, req{method: "GET", path: "/v1/users/me/bookings", token: alice})
		problemOf(t, r, 429)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		if r := h.do(base, req{method: "GET", path: "/v1/users/me/bookings", token: bob}); r.status != 200 {
			t.Errorf("another identity: %d", r.status)
		}
	})
}

// stream reads a booking's Server-Sent Events to the end: the saga event
// types in order, and the booking of the end event.
func (h *harness) stream(token, ref string) (string, map[string]any) {
	h.t.Helper()
	r, err := http.NewRequest("GET", h.base+"/v1/bookings/"+ref+"/events", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
	c := &http.Client{Timeout: sagaTimeout}
	resp, err := c.Do(r)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		h.t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	var types []string
	var event string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			m := reply{status: 200, body: []byte(strings.TrimPrefix(line, "data: "))}.json(h.t)
			if event == "end" {
				return strings.Join(types, " "), m
			}
			types = append(types, m["type"].(string))
		}
	}
	h.t.Fatalf("stream ended without an end event after %v: %v", types, sc.Err())
	return "", nil
}

// TestUnreachableKafkaIs503 stops the broker under a server: a booking is
// answered 503 with Retry-After within the publish timeout, not a hang.
func TestUnreachableKafkaIs503(t *testing.T) {
	h := newHarness(t)
	// The booking must get past validation, which asks whether the show is
	// on sale: wait for the seeded show first.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows/show-1"})
		return r.status == 200, string(r.body)
	})
	emb := bustest.StartEmbedded(t, t.TempDir())
	other := h.cfg
	other.Brokers = emb.Addrs()
	base := h.serve(api.Config{Bus: other, PublishTimeout: 2 * time.Second, RateLimit: -1})
	emb.Close()
	start := time.Now()
	r := h.do(base, req{method: "POST", path: "/v1/bookings", token: h.token("alice", api.RoleCustomer), body: booking("show-1", 1, "tok_ok")})
	problemOf(t, r, 503)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("answered after %s", d)
	}
}
