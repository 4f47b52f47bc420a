package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// provider is an identity provider of the test's making: an Ed25519 key
// whose public half is published in a JWKS file, as `saga up --jwks`
// reads one.
type provider struct {
	t    *testing.T
	key  ed25519.PrivateKey
	file string
}

const (
	providerIssuer   = "https://idp.test"
	providerAudience = "tickets"
	providerKID      = "idp-1"
)

func newProvider(t *testing.T) *provider {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: providerKID, ALG: jwkset.AlgEdDSA}})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
	raw, err := store.JSONPublic(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return &provider{t: t, key: key, file: file}
}

// token is a token of the provider for sub with role; over replaces
// claims (nil removes one). It is signed with key, the provider's own
// when nil.
func (p *provider) token(sub, role string, key ed25519.PrivateKey, over map[string]any) string {
	p.t.Helper()
	if key == nil {
		key = p.key
	}
	now := time.Now()
	c := jwt.MapClaims{"iss": providerIssuer, "aud": providerAudience, "sub": sub, "role": role,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return sign(p.t, jwt.SigningMethodEdDSA, key, providerKID, c)
}

// TestAPIWithAnExternalProvider runs the API as `saga up --jwks FILE
// --issuer ISS --audience AUD` does: the provider's tokens are accepted
// with the role of their claim, tokens of another issuer, audience or key
// are 401, and a user who signed in at the provider registers a profile
// under the token's subject with PUT /v1/users/me, then books.
func TestAPIWithAnExternalProvider(t *testing.T) {
	h := newHarness(t)
	idp := newProvider(t)
	v, err := api.NewVerifier(context.Background(), api.VerifierConfig{JWKS: idp.file, IssuerName: providerIssuer, Audience: providerAudience})
	if err != nil {
		t.Fatal(err)
	}
	base := h.serve(api.Config{RateLimit: -1, SignupRate: -1, Verifier: v})
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(base, req{method: "GET", path: "/v1/shows?country=US"})
		return r.status == 200 && strings.Contains(string(r.body), `"show-1"`), string(r.body)
	})
	frank := idp.token("frank", "customer", nil, nil)
	staff := idp.token("olga", "backoffice", nil, nil)

	t.Run("the provider's tokens are accepted with their role", func(t *testing.T) {
		if r := h.do(base, req{method: "GET", path: "/v1/users/me/bookings", token: frank}); r.status != 200 {
			t.Errorf("customer token: %d %s", r.status, r.body)
		}
		problemOf(t, h.do(base, req{method: "GET", path: "/v1/sagas", token: frank}), 403)
		if r := h.do(base, req{method: "GET", path: "/v1/sagas", token: staff}); r.status != 200 {
			t.Errorf("back-office token: %d %s", r.status, r.body)
		}
	})

	t.Run("other issuers, audiences and keys are refused", func(t *testing.T) {
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		cases := map[string]string{
			"wrong issuer":          idp.token("frank", "customer", nil, map[string]any{"iss": "https://evil.test"}),
			"wrong audience":        idp.token("frank", "customer", nil, map[string]any{"aud": "other-app"}),
			"no audience":           idp.token("frank", "customer", nil, map[string]any{"aud": nil}),
			"another key":           idp.token("frank", "customer", stranger, nil),
			"expired":               idp.token("frank", "customer", nil, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()}),
			"the embedded issuer's": h.token("frank", api.RoleCustomer),
		}
		for name, tok := range cases {
			r := h.do(base, req{method: "GET", path: "/v1/users/me/bookings", token: tok})
			if r.status != 401 {
				t.Errorf("%s token: %d %s, want 401", name, r.status, r.body)
				continue
			}
			problemOf(t, r, 401)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s token: 401 without WWW-Authenticate: %v", name, r.header)
			}
		}
	})

	t.Run("PUT /v1/users/me registers the token's subject", func(t *testing.T) {
		wait := []string{"Prefer", "wait=30"}
		problemOf(t, h.do(base, req{method: "PUT", path: "/v1/users/me", token: frank, headers: wait,
			body: map[string]any{"user_id": "alice", "name": "Frank", "phone": "+15555550177"}}), 403)
		problemOf(t, h.do(base, req{method: "PUT", path: "/v1/users/me",
			body: map[string]any{"name": "Frank", "phone": "+15555550177"}}), 401)

		r := h.do(base, req{method: "PUT", path: "/v1/users/me", token: frank, headers: wait,
			body: map[string]any{"name": "Frank", "phone": "+15555550177"}})
		if r.status != 200 {
			t.Fatalf("register: %d %s, want 200 within the wait", r.status, r.body)
		}
		s := r.json(t)
		if s["status"] != "completed" || s["user_id"] != "frank" {
			t.Fatalf("register = %v, want frank completed", s)
		}
		if s["token"] != nil {
			t.Errorf("with an external provider the sign-up carries a token: %v", s)
		}
		b := h.do(base, req{method: "POST", path: "/v1/bookings", token: frank, body: booking("show-1", 1, "tok_ok"), headers: wait})
		if b.status != 201 || b.json(t)["status"] != "completed" {
			t.Errorf("frank's booking after registering: %d %s, want 201 completed", b.status, b.body)
		}
	})
}
