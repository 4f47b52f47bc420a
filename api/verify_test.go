package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sagaflow/saga/api"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(over map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": api.DefaultIssuer, "aud": api.DefaultAudience, "sub": "alice", "role": "customer",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// unsigned is a token with alg "none", as an attacker would write it.
func unsigned(c jwt.MapClaims) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	raw, _ := json.Marshal(c)
	return h + "." + base64.RawURLEncoding.EncodeToString(raw) + "."
}

// TestVerifierRefusesBadTokens: the embedded issuer's tokens verify; an
// expired, unsigned, wrongly signed, foreign or wrong-audience token does
// not, with a reason that never echoes the token.
func TestVerifierRefusesBadTokens(t *testing.T) {
	is, err := api.LoadIssuer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := api.NewVerifier(context.Background(), api.VerifierConfig{Issuer: is})
	if err != nil {
		t.Fatal(err)
	}
	good, err := is.Issue("carl", api.RoleBackoffice, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.Verify(good)
	if err != nil || id.Subject != "carl" || id.Role != api.RoleBackoffice || id.Actor() != "backoffice:carl" {
		t.Fatalf("issued token: %+v, %v", id, err)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other := api.NewIssuer(otherKey)
	foreign, _ := other.Issue("alice", api.RoleBackoffice, time.Minute)
	cases := []struct {
		name, token, reason string
	}{
		{"expired", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})), "expired"},
		{"no expiry", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"exp": nil})), "claim"},
		{"alg none", unsigned(claims(nil)), ""},
		{"another key", foreign, "signature"},
		{"another algorithm", sign(t, jwt.SigningMethodES256, ecKey, "", claims(nil)), ""},
		{"hmac with the public key", sign(t, jwt.SigningMethodHS256, []byte(keyOf(t, is).Public().(ed25519.PublicKey)), "", claims(nil)), ""},
		{"wrong audience", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"aud": "other-api"})), "audience"},
		{"wrong issuer", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"iss": "evil"})), "issuer"},
		{"no subject", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"sub": nil})), "subject"},
		{"not yet valid", sign(t, jwt.SigningMethodEdDSA, keyOf(t, is), "", claims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})), "not valid yet"},
		{"garbage", "not.a.token", "malformed"},
		{"tampered", good[:len(good)-4] + "AAAA", "signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.token)
			if err == nil {
				t.Fatal("verified")
			}
			if !strings.Contains(err.Error(), c.reason) || strings.Contains(err.Error(), c.token) {
				t.Errorf("reason %q, want it to say %q without the token", err, c.reason)
			}
		})
	}
}

// keyOf signs with the issuer's own key by issuing through a fresh issuer
// on the same data directory key: tests reach it via a token round trip.
func keyOf(t *testing.T, is *api.Issuer) ed25519.PrivateKey {
	t.Helper()
	return api.IssuerKey(is)
}

// TestVerifierTrustsAnExternalProvider: with a JWKS file, issuer and
// audience, a provider's ES256 tokens verify and the role comes from the
// configured claim; the embedded issuer's tokens do not.
func TestVerifierTrustsAnExternalProvider(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, err := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(context.Background(), jwk); err != nil {
		t.Fatal(err)
	}
	raw, _ := store.JSONPublic(context.Background())
	file := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := api.NewVerifier(context.Background(), api.VerifierConfig{JWKS: file}); err == nil {
		t.Fatal("a JWKS without issuer and audience was accepted")
	}
	v, err := api.NewVerifier(context.Background(), api.VerifierConfig{JWKS: file, IssuerName: "https://idp.example",
		Audience: "tickets", RoleClaim: "groups"})
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]any{"iss": "https://idp.example", "aud": "tickets", "role": nil}
	staff := claims(base)
	staff["groups"] = []any{"staff", "backoffice"}
	id, err := v.Verify(sign(t, jwt.SigningMethodES256, key, "k1", staff))
	if err != nil || id.Role != api.RoleBackoffice {
		t.Fatalf("provider's staff token: %+v %v", id, err)
	}
	plain := claims(base)
	plain["role"] = "backoffice" // not the configured claim
	if id, err := v.Verify(sign(t, jwt.SigningMethodES256, key, "k1", plain)); err != nil || id.Role != api.RoleCustomer {
		t.Errorf("token without the role claim: %+v %v, want a customer", id, err)
	}
	is, _ := api.LoadIssuer(t.TempDir())
	own, _ := is.Issue("alice", api.RoleCustomer, time.Minute)
	if _, err := v.Verify(own); err == nil {
		t.Error("the embedded issuer's token verified against the provider")
	}
}

// TestIssuerKeyIsPrivate: the key file is created 0600 and reused.
func TestIssuerKeyIsPrivate(t *testing.T) {
	dir := t.TempDir()
	a, err := api.LoadIssuer(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, api.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := api.LoadIssuer(dir)
	ja, _ := a.JWKS()
	jb, _ := b.JWKS()
	if string(ja) != string(jb) {
		t.Error("a second load made another key")
	}
}
