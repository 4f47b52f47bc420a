package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// liteYAML is book-ticket without its notification, and a field of its
// own the booking's data must carry.
const liteYAML = `name: book-ticket-lite
data: booking
ref_from_saga_id: true
required: [party]
steps:
  - {name: VerifyUser, service: user, command: VerifyUser, key: user_id}
  - {name: ReserveSeats, service: booking, command: ReserveSeats, compensation: ReleaseSeats, key: show_id}
  - {name: ChargePayment, service: payment, command: ChargePayment, compensation: RefundPayment, key: booking_ref, secrets: [payment_token]}
  - {name: ConfirmBooking, service: booking, command: ConfirmBooking, key: show_id, pivot: true}
`

func lite(description string) map[string]any {
	return map[string]any{
		"name": "book-ticket-lite", "data": "booking", "ref_from_saga_id": true, "required": []string{"party"}, "description": description,
		"steps": []map[string]any{
			{"name": "VerifyUser", "service": "user", "command": "VerifyUser", "key": "user_id"},
			{"name": "ReserveSeats", "service": "booking", "command": "ReserveSeats", "compensation": "ReleaseSeats", "key": "show_id"},
			{"name": "ChargePayment", "service": "payment", "command": "ChargePayment", "compensation": "RefundPayment", "key": "booking_ref", "secrets": []string{"payment_token"}},
			{"name": "ConfirmBooking", "service": "booking", "command": "ConfirmBooking", "key": "show_id", "pivot": true},
		}}
}

// TestDefinitions applies a definition through the API as back office,
// lists, shows and compares its versions, and books on it: the running
// orchestrator picks it up without a restart.
func TestDefinitions(t *testing.T) {
	h := newHarness(t)
	staff, alice := h.token("carl", api.RoleBackoffice), h.token("alice", api.RoleCustomer)
	yaml := []string{"Content-Type", "application/yaml"}

	first := h.call(http.StatusCreated, req{method: "POST", path: "/v1/definitions", token: staff, body: liteYAML, headers: yaml}).json(t)
	v1, _ := first["version"].(string)
	if first["published"] != true || first["current"] != true || first["actor"] != "backoffice:carl" || len(v1) < 8 {
		t.Fatalf("first apply: %v", first)
	}
	// The same definition as JSON is the same version: nothing published.
	again := h.call(http.StatusOK, req{method: "POST", path: "/v1/definitions", token: staff, body: lite("")}).json(t)
	if again["published"] != false || again["version"] != v1 {
		t.Fatalf("apply again: %v, want version %s unpublished", again, v1)
	}
	second := h.call(http.StatusCreated, req{method: "POST", path: "/v1/definitions", token: staff, body: lite("without the notification")}).json(t)
	v2, _ := second["version"].(string)
	if v2 == v1 {
		t.Fatalf("a changed definition kept version %s", v1)
	}

	names := func(q string) map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, d := range h.call(http.StatusOK, req{method: "GET", path: "/v1/definitions" + q, token: staff}).json(t)["definitions"].([]any) {
			m := d.(map[string]any)
			out[m["name"].(string)+"@"+m["version"].(string)] = m
		}
		return out
	}
	current := names("")
	if d := current["book-ticket-lite@"+v2]; d == nil || d["current"] != true || len(d["steps"].([]any)) != 4 || d["actor"] != "backoffice:carl" {
		t.Fatalf("list: %v", current)
	}
	if current["book-ticket-lite@"+v1] != nil {
		t.Fatalf("list shows the earlier version: %v", current)
	}
	shipped := false
	for k := range current {
		shipped = shipped || strings.HasPrefix(k, "book-ticket@")
	}
	if !shipped {
		t.Fatalf("list: want the shipped definitions too: %v", current)
	}
	if all := names("?all=true"); all["book-ticket-lite@"+v1]["current"] != false || all["book-ticket-lite@"+v2] == nil {
		t.Fatalf("list all: %v", all)
	}
	shown := h.call(http.StatusOK, req{method: "GET", path: "/v1/definitions/book-ticket-lite?version=" + v1[:6], token: staff}).json(t)
	if shown["version"] != v1 || shown["current"] != false || shown["spec"].(map[string]any)["name"] != "book-ticket-lite" {
		t.Fatalf("show v1: %v", shown)
	}
	if cur := h.call(http.StatusOK, req{method: "GET", path: "/v1/definitions/book-ticket-lite", token: staff}).json(t); cur["version"] != v2 {
		t.Fatalf("show: %v, want version %s", cur, v2)
	}
	diff := h.call(http.StatusOK, req{method: "GET", path: "/v1/definitions/book-ticket-lite/diff?from=" + v1 + "&to=" + v2, token: staff}).json(t)
	if ch := diff["changes"].([]any); len(ch) != 1 || !strings.Contains(ch[0].(string), "description") {
		t.Fatalf("diff: %v", diff)
	}

	for _, c := range []struct {
		name   string
		q      req
		status int
	}{
		{"unknown name", req{method: "GET", path: "/v1/definitions/no-such", token: staff}, http.StatusNotFound},
		{"unknown version", req{method: "GET", path: "/v1/definitions/book-ticket-lite?version=zz", token: staff}, http.StatusNotFound},
		{"diff without to", req{method: "GET", path: "/v1/definitions/book-ticket-lite/diff?from=" + v1, token: staff}, http.StatusBadRequest},
		{"all not a boolean", req{method: "GET", path: "/v1/definitions?all=yes", token: staff}, http.StatusBadRequest},
		{"customer lists", req{method: "GET", path: "/v1/definitions", token: alice}, http.StatusForbidden},
		{"customer applies", req{method: "POST", path: "/v1/definitions", token: alice, body: lite("")}, http.StatusForbidden},
		{"anonymous applies", req{method: "POST", path: "/v1/definitions", body: lite("")}, http.StatusUnauthorized},
		{"not YAML", req{method: "POST", path: "/v1/definitions", token: staff, body: "name: [", headers: yaml}, http.StatusBadRequest},
		{"text/plain", req{method: "POST", path: "/v1/definitions", token: staff, body: liteYAML, headers: []string{"Content-Type", "text/plain"}}, http.StatusUnsupportedMediaType},
		{"a null", req{method: "POST", path: "/v1/definitions", token: staff, body: `{"name": "x", "retry": null, "steps": []}`}, http.StatusUnprocessableEntity},
		{"unknown field", req{method: "POST", path: "/v1/definitions", token: staff, body: `{"name": "x", "stepz": []}`}, http.StatusUnprocessableEntity},
	} {
		t.Run(c.name, func(t *testing.T) { problemOf(t, h.do(h.base, c.q), c.status) })
	}

	// A bad definition: every problem named, nothing published.
	bad := `name: "bad name"
steps:
  - {name: A, service: hotel, command: ReserveRoom}
  - {name: A, service: payment, command: Charge}
  - {name: B, service: booking, command: ReserveSeats, key: nights}
`
	p := problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/definitions", token: staff, body: bad, headers: yaml}), http.StatusUnprocessableEntity)
	var msgs []string
	for _, e := range p["errors"].([]any) {
		msgs = append(msgs, e.(map[string]any)["message"].(string))
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{`name "bad name"`, `unknown service "hotel"`, `no command "Charge"`, `key field "nights"`, `"A" is used twice`} {
		if !strings.Contains(all, want) {
			t.Errorf("the problems do not name %s:\n%s", want, all)
		}
	}
	for k := range names("?all=true") {
		if strings.HasPrefix(k, "bad name@") {
			t.Fatalf("a bad definition was published: %s", k)
		}
	}

	// Booking on it: its own field is required, and then it completes.
	// The demo shows are seeded through sagas: wait until show-1 is on sale.
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows/show-1"})
		return r.status == http.StatusOK, string(r.body)
	})
	book := booking("show-1", 1, "tok_ok")
	book["definition"] = "book-ticket-lite"
	if r := h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: book}); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), `"field":"data.party"`) || !strings.Contains(string(r.body), "party is required") {
		t.Fatalf("a booking without party: %d %s", r.status, r.body)
	}
	book["data"] = map[string]any{"party": "birthday"}
	key := []string{"Idempotency-Key", "lite-1"}
	b := h.call(http.StatusAccepted, req{method: "POST", path: "/v1/bookings", token: alice, body: book, headers: key}).json(t)
	done := h.waitBooking(alice, b["booking_ref"].(string), "completed", "compensated", "failed")
	if done["status"] != "completed" || done["definition"] != "book-ticket-lite" || done["definition_version"] != v2 || len(done["steps"].([]any)) != 4 {
		t.Fatalf("booking on book-ticket-lite: %v", done)
	}
	// Its key again: the same booking; with other data, another request.
	if again := h.call(http.StatusAccepted, req{method: "POST", path: "/v1/bookings", token: alice, body: book, headers: key}).json(t); again["booking_ref"] != b["booking_ref"] {
		t.Fatalf("a repeated key answered %v, want booking %v", again, b["booking_ref"])
	}
	book["data"] = map[string]any{"party": "wedding"}
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: book, headers: key}), http.StatusConflict)
	book["definition"] = "book-ticket"
	problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: book, headers: key}), http.StatusConflict)

	for _, c := range []struct {
		name  string
		def   string
		data  map[string]any
		field string
	}{
		{"unknown definition", "no-such", nil, "definition"},
		{"not a booking definition", "add-show", nil, "definition"},
		{"the booking's own field", "book-ticket-lite", map[string]any{"party": "x", "seats": 9}, "data.seats"},
		{"the payment token", "book-ticket-lite", map[string]any{"party": "x", "payment_token": "tok_ok"}, "data.payment_token"},
		{"a null", "book-ticket-lite", map[string]any{"party": nil}, "data.party"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := booking("show-1", 1, "tok_ok")
			body["definition"] = c.def
			if c.data != nil {
				body["data"] = c.data
			}
			p := problemOf(t, h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: body}), http.StatusBadRequest)
			raw, _ := json.Marshal(p["errors"])
			if !strings.Contains(string(raw), `"field":"`+c.field+`"`) {
				t.Fatalf("errors do not name %s: %v", c.field, p)
			}
		})
	}
}
