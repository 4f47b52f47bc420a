package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// KeyFile is the embedded issuer's private key under the data directory.
const KeyFile = "api-signing.key"

// DefaultIssuer and DefaultAudience are the iss and aud of the tokens the
// embedded issuer signs and accepts.
const (
	DefaultIssuer   = "saga"
	DefaultAudience = "saga-api"
)

// Issuer signs tokens with the data directory's Ed25519 key: the identity
// provider of a system that has no other one.
type Issuer struct {
	key      ed25519.PrivateKey
	kid      string
	issuer   string
	audience string
	now      func() time.Time
}

// LoadIssuer reads the signing key of dataDir, creating it (0600) when it
// is missing, so the first `saga up` or `saga token issue` makes it.
func LoadIssuer(dataDir string) (*Issuer, error) {
	path := filepath.Join(dataDir, KeyFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = createKey(dataDir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("api signing key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("api signing key %s: not PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("api signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("api signing key %s: not an Ed25519 key", path)
	}
	return NewIssuer(priv), nil
}

// NewIssuer signs with key.
func NewIssuer(key ed25519.PrivateKey) *Issuer {
	sum := sha256.Sum256(key.Public().(ed25519.PublicKey))
	return &Issuer{key: key, kid: base64.RawURLEncoding.EncodeToString(sum[:12]),
		issuer: DefaultIssuer, audience: DefaultAudience, now: time.Now}
}

// createKey writes a fresh key; O_EXCL makes two processes starting at
// once agree on one key (the loser reads the winner's).
func createKey(dir, path string) ([]byte, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	raw := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return raw, f.Close()
}

// Issue signs a token for sub with role, valid for ttl.
func (is *Issuer) Issue(sub string, role Role, ttl time.Duration) (string, error) {
	if sub == "" {
		return "", errors.New("a token needs a subject")
	}
	if ttl <= 0 {
		return "", errors.New("a token's lifetime must be positive")
	}
	now := is.now()
	claims := jwt.MapClaims{
		"iss":  is.issuer,
		"aud":  is.audience,
		"sub":  sub,
		"role": string(role),
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  now.Add(ttl).Unix(),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = is.kid
	return t.SignedString(is.key)
}

// JWKS is the issuer's public key as a JSON Web Key Set.
func (is *Issuer) JWKS() (json.RawMessage, error) {
	jwk, err := jwkset.NewJWKFromKey(is.key.Public(), jwkset.JWKOptions{
		Metadata: jwkset.JWKMetadataOptions{KID: is.kid, ALG: jwkset.AlgEdDSA, USE: jwkset.UseSig},
	})
	if err != nil {
		return nil, err
	}
	store := jwkset.NewMemoryStorage()
	if err := store.KeyWrite(context.Background(), jwk); err != nil {
		return nil, err
	}
	return store.JSONPublic(context.Background())
}
