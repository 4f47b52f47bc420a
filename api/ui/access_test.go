package ui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/api/ui"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// checkAccess is who may see what: no token goes to sign-in, a customer
// gets 403 on every page and action (bearer or cookie), back office gets
// the pages; every POST needs its CSRF token; the cookie is HttpOnly,
// SameSite=Strict and scoped to /ui/; pages carry a strict CSP.
func checkAccess(t *testing.T, h *harness) {
	staff, alice := h.token("carl", api.RoleBackoffice), h.token("alice", api.RoleCustomer)
	pages := []string{"/ui/", "/ui/sagas", "/ui/sagas/nope", "/ui/dlq", "/ui/reconcile", "/ui/projections", "/ui/definitions", "/ui/stream"}
	for _, p := range pages[:7] {
		r := h.do("GET", p, "", nil, nil)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/ui/signin") {
			t.Errorf("GET %s without a token: %d to %q, want 303 to the sign-in page", p, r.status, r.header.Get("Location"))
		}
	}
	customerCookie := []*http.Cookie{{Name: ui.CookieName, Value: alice}}
	for _, p := range pages {
		if r := h.do("GET", p, alice, nil, nil); r.status != http.StatusForbidden {
			t.Errorf("GET %s with a customer's bearer token: %d, want 403", p, r.status)
		}
		if r := h.do("GET", p, "", nil, customerCookie); r.status != http.StatusForbidden {
			t.Errorf("GET %s with a customer's cookie: %d, want 403", p, r.status)
		}
	}
	for _, p := range []string{"/ui/sagas/x/retry", "/ui/sagas/x/cancel", "/ui/dlq/x/redrive", "/ui/signout"} {
		if r := h.do("POST", p, alice, "csrf=x", nil); r.status != http.StatusForbidden {
			t.Errorf("POST %s as a customer: %d, want 403", p, r.status)
		}
		if r := h.do("POST", p, staff, "", nil); r.status != http.StatusForbidden {
			t.Errorf("POST %s as back office without a CSRF token: %d, want 403", p, r.status)
		}
	}
	r := h.do("GET", "/ui/sagas", staff, nil, nil)
	if r.status != 200 || !strings.Contains(r.body, "<h1>Sagas</h1>") {
		t.Fatalf("GET /ui/sagas as back office: %d %s", r.status, r.body)
	}
	if c := r.header.Get("Content-Security-Policy"); !strings.Contains(c, "default-src 'none'") || strings.Contains(c, "unsafe-inline") {
		t.Errorf("CSP %q is not strict", c)
	}
	// Bad input gets an inline message on the page, not a problem+json.
	r = h.do("GET", "/ui/sagas?status=bogus&from=yesterday&cursor=%21", staff, nil, nil)
	if r.status != 400 || !strings.Contains(r.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(r.body, "status must be one of") || !strings.Contains(r.body, "from: a time such as") || !strings.Contains(r.body, "page link is not one") {
		t.Errorf("a bad search: %d %s", r.status, r.body)
	}

	// Sign-in: a customer's token is refused; a back-office one sets the cookie.
	form := h.do("GET", "/ui/signin", "", nil, nil)
	m := csrfField.FindStringSubmatch(form.body)
	if form.status != 200 || m == nil {
		t.Fatalf("sign-in page: %d %s", form.status, form.body)
	}
	var signinCookie *http.Cookie
	for _, c := range (&http.Response{Header: form.header}).Cookies() {
		signinCookie = c
	}
	r = h.do("POST", "/ui/signin", "", "csrf="+url.QueryEscape(m[1])+"&token="+url.QueryEscape(alice), []*http.Cookie{signinCookie})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, "for back-office identities") {
		t.Errorf("sign-in with a customer token: %d %s", r.status, r.body)
	}
	r = h.do("POST", "/ui/signin", "", "csrf=forged&token="+url.QueryEscape(staff), []*http.Cookie{signinCookie})
	if r.status != http.StatusForbidden {
		t.Errorf("sign-in with a forged CSRF token: %d, want 403", r.status)
	}
	r = h.do("POST", "/ui/signin", "", "csrf="+url.QueryEscape(m[1])+"&token="+url.QueryEscape(staff)+"&next=//evil.example/", []*http.Cookie{signinCookie})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/ui/" {
		t.Fatalf("sign-in: %d to %q, want 303 to /ui/", r.status, r.header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == ui.CookieName {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/ui/" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/ui/", session)
	}
	if r := h.do("GET", "/ui/dlq", "", nil, []*http.Cookie{session}); r.status != 200 {
		t.Errorf("GET /ui/dlq with the session cookie: %d", r.status)
	}
	// The session's CSRF token does not work for another token.
	page := h.do("GET", "/ui/sagas", "", nil, []*http.Cookie{session})
	tok := csrfField.FindStringSubmatch(page.body)
	other := h.token("dora", api.RoleBackoffice)
	if r := h.do("POST", "/ui/signout", other, "csrf="+url.QueryEscape(tok[1]), nil); r.status != http.StatusForbidden {
		t.Errorf("another session's CSRF token: %d, want 403", r.status)
	}
	if r := h.do("POST", "/ui/signout", "", "csrf="+url.QueryEscape(tok[1]), []*http.Cookie{session}); r.status != http.StatusSeeOther {
		t.Errorf("sign out: %d, want 303", r.status)
	}
}
