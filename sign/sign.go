// Package sign authenticates records: the part that writes a record signs
// its payload together with the headers that say what it is and where it
// belongs, with an Ed25519 key of its own, and every reader checks the
// signature against the public keys it trusts before it acts.
//
// The signed bytes are a fixed sequence of length-prefixed fields, so no
// two different records sign the same bytes: a version tag, the topic, the
// record key, the identifying headers in the order of Signed, and the
// payload. Other headers (tracing, a forwarded record's origin) are not
// signed.
package sign

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Header names a signed record carries: the signature and the id of the
// key that made it.
const (
	HeaderSignature = "sig"
	HeaderKeyID     = "sig_kid"
)

// Signed are the headers a signature covers, besides the topic, the record
// key and the payload; an absent header is signed as empty.
var Signed = []string{"id", "type", "version", "saga_id", "correlation_id", "causation_id", "actor", "occurred_at"}

// tag starts the signed bytes; a new layout gets a new tag.
const tag = "saga-record-v1"

// Errors of Verify. A record without a signature is unsigned; one whose
// signature does not verify, or names a key that is unknown or retired,
// has a bad signature.
var (
	ErrUnsigned     = errors.New("unsigned")
	ErrBadSignature = errors.New("bad signature")
)

// Record is what a signature covers.
type Record struct {
	Topic   string
	Key     string
	Headers map[string]string
	Payload []byte
}

// message returns the bytes a signature covers.
func (r Record) message() []byte {
	n := len(tag) + len(r.Topic) + len(r.Key) + len(r.Payload) + 4*(3+len(Signed))
	for _, h := range Signed {
		n += len(r.Headers[h])
	}
	b := make([]byte, 0, n)
	field := func(s []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	b = field([]byte(tag))
	b = field([]byte(r.Topic))
	b = field([]byte(r.Key))
	for _, h := range Signed {
		b = field([]byte(r.Headers[h]))
	}
	return field(r.Payload)
}

// Key is a principal's private signing key.
type Key struct {
	// ID names the key in the keyring; it travels in every record signed.
	ID        string
	Principal string
	private   ed25519.PrivateKey
}

// NewKey returns a fresh key for principal, with id.
func NewKey(id, principal string) (*Key, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("sign: generate key: %w", err)
	}
	return &Key{ID: id, Principal: principal, private: priv}, nil
}

// Public returns the key's entry for a keyring.
func (k *Key) Public() PublicKey {
	return PublicKey{ID: k.ID, Principal: k.Principal, Key: k.private.Public().(ed25519.PublicKey)}
}

// Sign returns the headers that sign r: the signature and the key id.
func (k *Key) Sign(r Record) (signature, keyID string) {
	return base64.RawStdEncoding.EncodeToString(ed25519.Sign(k.private, r.message())), k.ID
}

// PublicKey is a key a reader trusts: whose it is, and until when.
type PublicKey struct {
	ID        string
	Principal string
	Key       ed25519.PublicKey
	// NotAfter retires the key: zero means it has no end.
	NotAfter time.Time
}

// Keyring holds the public keys a reader trusts, by id; several keys of
// one principal may be valid at once, so that a key can be rotated without
// stopping anything.
type Keyring struct {
	keys map[string]PublicKey
}

// NewKeyring returns a keyring of keys; two keys with one id are refused.
func NewKeyring(keys ...PublicKey) (*Keyring, error) {
	r := &Keyring{keys: make(map[string]PublicKey, len(keys))}
	for _, k := range keys {
		if err := r.Add(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add trusts k.
func (r *Keyring) Add(k PublicKey) error {
	if k.ID == "" || k.Principal == "" {
		return fmt.Errorf("sign: key %q of %q needs an id and a principal", k.ID, k.Principal)
	}
	if len(k.Key) != ed25519.PublicKeySize {
		return fmt.Errorf("sign: key %s is %d bytes, not an Ed25519 public key", k.ID, len(k.Key))
	}
	if _, dup := r.keys[k.ID]; dup {
		return fmt.Errorf("sign: two keys with id %s", k.ID)
	}
	r.keys[k.ID] = k
	return nil
}

// Keys returns the trusted keys.
func (r *Keyring) Keys() []PublicKey {
	out := make([]PublicKey, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k)
	}
	return out
}

// Verify checks r's signature, read from its own headers, and returns the
// principal that signed it. A key past its NotAfter at time at is refused:
// readers pass the time they act, so a retired key signs nothing new.
func (r *Keyring) Verify(rec Record, at time.Time) (string, error) {
	sig, kid := rec.Headers[HeaderSignature], rec.Headers[HeaderKeyID]
	if sig == "" && kid == "" {
		return "", ErrUnsigned
	}
	k, ok := r.keys[kid]
	if !ok {
		return "", fmt.Errorf("%w: key %q is not trusted", ErrBadSignature, kid)
	}
	if !k.NotAfter.IsZero() && at.After(k.NotAfter) {
		return "", fmt.Errorf("%w: key %s of %s was retired at %s", ErrBadSignature, kid, k.Principal, k.NotAfter.UTC().Format(time.RFC3339))
	}
	raw, err := base64.RawStdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return "", fmt.Errorf("%w: header %s is not an Ed25519 signature", ErrBadSignature, HeaderSignature)
	}
	if !ed25519.Verify(k.Key, rec.message(), raw) {
		return "", fmt.Errorf("%w: the record is not what key %s of %s signed", ErrBadSignature, kid, k.Principal)
	}
	return k.Principal, nil
}

// Derive returns a secret key of n bytes for one purpose, derived from the
// private key with HKDF-SHA256 (info names the purpose), so that a part
// can encrypt what only it, or another process of the same principal,
// reads back: the orchestrator's snapshots.
func (k *Key) Derive(info string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.private.Seed(), nil, info, n)
	if err != nil {
		panic("sign: " + err.Error()) // only for n beyond HKDF's limit
	}
	return out
}
