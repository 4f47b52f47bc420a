package api

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultRoleClaim is the claim a token's role is read from.
const DefaultRoleClaim = "role"

// externalMethods are the signature algorithms accepted from an OIDC
// provider: asymmetric ones only, so neither "none" nor an HMAC keyed with
// a public key (the algorithm confusion attack) can pass.
var externalMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// leeway absorbs clock skew between the token's issuer and this host.
const leeway = 30 * time.Second

// VerifierConfig says whose tokens to trust: the embedded Issuer's, or an
// external provider's key set (a JWKS file or URL) with its issuer and
// audience.
type VerifierConfig struct {
	Issuer *Issuer
	// JWKS is a file or an http(s) URL of the provider's public keys.
	JWKS     string
	Audience string
	// IssuerName is the iss the provider's tokens carry.
	IssuerName string
	// RoleClaim names the claim holding the role (a string or a list of
	// strings); DefaultRoleClaim when empty.
	RoleClaim string
}

// Validate reports every problem of the configuration.
func (c VerifierConfig) Validate() error {
	var errs []error
	if c.Issuer == nil && c.JWKS == "" {
		errs = append(errs, errors.New("tokens need a verifier: the embedded issuer or --jwks"))
	}
	if c.JWKS != "" {
		if c.IssuerName == "" {
			errs = append(errs, errors.New("--jwks needs --issuer: the iss of the provider's tokens"))
		}
		if c.Audience == "" {
			errs = append(errs, errors.New("--jwks needs --audience: the aud the provider issues tokens for"))
		}
	}
	return errors.Join(errs...)
}

// Verifier checks bearer tokens and returns the identity they carry.
type Verifier struct {
	parser    *jwt.Parser
	keyfunc   jwt.Keyfunc
	roleClaim string
	issuer    string
}

// NewVerifier builds the verifier of c; with a JWKS URL the keys are
// fetched now and refreshed in the background until ctx ends.
func NewVerifier(ctx context.Context, c VerifierConfig) (*Verifier, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{roleClaim: c.RoleClaim}
	if v.roleClaim == "" {
		v.roleClaim = DefaultRoleClaim
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(leeway), jwt.WithIssuedAt()}
	if c.JWKS == "" {
		is := c.Issuer
		pub := is.key.Public().(ed25519.PublicKey)
		v.issuer = is.issuer
		v.keyfunc = func(t *jwt.Token) (any, error) {
			if kid, _ := t.Header["kid"].(string); kid != "" && kid != is.kid {
				return nil, fmt.Errorf("unknown key id %q", kid)
			}
			return pub, nil
		}
		opts = append(opts, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(is.issuer), jwt.WithAudience(is.audience))
	} else {
		kf, err := jwksKeyfunc(ctx, c.JWKS)
		if err != nil {
			return nil, err
		}
		v.issuer = c.IssuerName
		v.keyfunc = kf
		opts = append(opts, jwt.WithValidMethods(externalMethods), jwt.WithIssuer(c.IssuerName), jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

func jwksKeyfunc(ctx context.Context, src string) (jwt.Keyfunc, error) {
	if strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "http://") {
		k, err := keyfunc.NewDefaultCtx(ctx, []string{src})
		if err != nil {
			return nil, fmt.Errorf("jwks %s: %w", src, err)
		}
		return k.Keyfunc, nil
	}
	raw, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	k, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", src, err)
	}
	return k.Keyfunc, nil
}

// Verify checks a compact JWS token: signature, algorithm, expiry, issuer
// and audience. The error says why a token is refused, for the 401's
// WWW-Authenticate header; it never echoes the token.
func (v *Verifier) Verify(token string) (Identity, error) {
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyfunc); err != nil {
		return Identity{}, tokenError(err)
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return Identity{}, errors.New("the token has no subject")
	}
	return Identity{Subject: sub, Role: roleOf(claims[v.roleClaim]), Issuer: v.issuer}, nil
}

// roleOf reads a role claim: a string or a list; back office wins when
// listed, and a verified token without a known role is a customer's.
func roleOf(claim any) Role {
	var names []string
	switch c := claim.(type) {
	case string:
		names = strings.Fields(c)
	case []any:
		for _, n := range c {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	if contains(names, string(RoleBackoffice)) {
		return RoleBackoffice
	}
	return RoleCustomer
}

func tokenError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return errors.New("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return errors.New("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return errors.New("the token is for another audience")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return errors.New("the token is from another issuer")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return errors.New("the token's signature does not verify")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return errors.New("the token is malformed")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return errors.New("the token lacks a required claim")
	}
	return errors.New("the token is not valid")
}
