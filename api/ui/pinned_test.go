package ui_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// bookTicketWithoutNotice is an edit of book-ticket: its last step gone.
const bookTicketWithoutNotice = `{"name": "book-ticket", "data": "booking", "ref_from_saga_id": true, "steps": [
  {"name": "VerifyUser", "service": "user", "command": "VerifyUser", "key": "user_id"},
  {"name": "ReserveSeats", "service": "booking", "command": "ReserveSeats", "compensation": "ReleaseSeats", "key": "show_id"},
  {"name": "ChargePayment", "service": "payment", "command": "ChargePayment", "compensation": "RefundPayment", "key": "booking_ref", "secrets": ["payment_token"]},
  {"name": "ConfirmBooking", "service": "booking", "command": "ConfirmBooking", "key": "show_id", "pivot": true}]}`

// TestSagaPageDrawsItsVersion edits book-ticket between two bookings:
// each saga's page draws the version it ran, and the search offers the
// catalogue's definitions.
func TestSagaPageDrawsItsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole system")
	}
	h := newHarness(t)
	staff, alice := h.token("carl", api.RoleBackoffice), h.token("alice", api.RoleCustomer)
	before, status := h.book(alice, "show-1", "tok_ok")
	if status != "completed" {
		t.Fatalf("booking before the edit: %s", status)
	}
	r := h.do("POST", "/v1/definitions", staff, json.RawMessage(bookTicketWithoutNotice), nil)
	if r.status != 201 {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	var applied struct{ Version string }
	_ = json.Unmarshal([]byte(r.body), &applied)
	lite := strings.Replace(bookTicketWithoutNotice, `"book-ticket"`, `"ui-lite"`, 1)
	if r := h.do("POST", "/v1/definitions", staff, json.RawMessage(lite), nil); r.status != 201 {
		t.Fatalf("apply ui-lite: %d %s", r.status, r.body)
	}
	// The orchestrator follows the catalogue: a booking soon runs the edit.
	var after string
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do("POST", "/v1/bookings", alice, map[string]any{"show_id": "show-1", "seats": 1, "payment_token": "tok_ok"}, nil, "Prefer", "wait=30")
		var b struct {
			BookingRef        string `json:"booking_ref"`
			Status            string `json:"status"`
			DefinitionVersion string `json:"definition_version"`
		}
		_ = json.Unmarshal([]byte(r.body), &b)
		after = b.BookingRef
		return b.Status == "completed" && b.DefinitionVersion == applied.Version, r.body
	})
	for _, c := range []struct {
		ref    string
		notice bool
	}{{before, true}, {after, false}} {
		page := h.do("GET", "/ui/sagas/"+c.ref, staff, nil, nil)
		if page.status != 200 || !strings.Contains(page.body, `data-step="ConfirmBooking"`) ||
			strings.Contains(page.body, `data-step="SendNotification"`) != c.notice {
			t.Errorf("saga %s: want SendNotification drawn %v: %d %s", c.ref, c.notice, page.status, page.body)
		}
	}
	if page := h.do("GET", "/ui/sagas", staff, nil, nil); !strings.Contains(page.body, ">ui-lite<") {
		t.Errorf("the search does not offer ui-lite: %s", page.body)
	}
	page := h.do("GET", "/ui/definitions", staff, nil, nil)
	for _, want := range []string{`data-definition="ui-lite"`, `data-definition="book-ticket" data-version="` + applied.Version + `"`, "SendNotification", "backoffice:carl"} {
		if page.status != 200 || !strings.Contains(page.body, want) {
			t.Errorf("the definitions page lacks %s: %d %s", want, page.status, page.body)
		}
	}
}
