package api

import (
	"crypto/ed25519"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzVerify: no input makes the verifier panic or accept a token that
// its key did not sign.
func FuzzVerify(f *testing.F) {
	seed := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	is := NewIssuer(seed)
	good, _ := is.Issue("alice", RoleCustomer, time.Hour)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Add("")
	v, err := NewVerifier(f.Context(), VerifierConfig{Issuer: is})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(token)
		if err == nil && token != good {
			// Only a token the key signed may verify; the fuzzer cannot forge one.
			if _, err2 := v.Verify(token); err2 != nil || id.Subject == "" {
				t.Fatalf("verified %q as %+v", token, id)
			}
		}
	})
}

// FuzzDecodeBooking: any body is either decoded or refused as a problem,
// never a panic or a 500.
func FuzzDecodeBooking(f *testing.F) {
	f.Add(`{"show_id":"show-1","seats":1,"payment_token":"tok_ok"}`, "application/json")
	f.Add(`{"seats":null}`, "application/json")
	f.Add(`[1,2]`, "application/merge-patch+json")
	f.Add(`{} {}`, "text/plain")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/bookings", strings.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		var req bookingRequest
		err := decodeJSON(httptest.NewRecorder(), r, &req, "show_id", "seats", "payment_token")
		if err != nil {
			if p := asProblem(err); p.Status >= 500 {
				t.Fatalf("body %q: %v", body, err)
			}
		}
	})
}

// FuzzPreferWait never waits longer than the cap, nor negative.
func FuzzPreferWait(f *testing.F) {
	f.Add("wait=10")
	f.Add("respond-async, wait=99999999999999999999")
	f.Add("wait=-1")
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Prefer", h)
		if d := preferWait(r, time.Minute); d < 0 || d > time.Minute {
			t.Fatalf("Prefer %q: wait %s", h, d)
		}
	})
}
