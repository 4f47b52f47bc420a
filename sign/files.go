package sign

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// KeyringFile is the name of the keyring in a key directory.
const KeyringFile = "keyring.json"

// keyFile is a private key on disk.
type keyFile struct {
	ID         string `json:"kid"`
	Principal  string `json:"principal"`
	PrivateKey []byte `json:"private_key"` // the X25519 private key, base64
}

// publicFile is one key of a keyring on disk.
type publicFile struct {
	ID        string     `json:"kid"`
	Principal string     `json:"principal"`
	PublicKey []byte     `json:"public_key"` // X25519, base64
	NotAfter  *time.Time `json:"not_after,omitempty"`
}

type keyringFile struct {
	Keys []publicFile `json:"keys"`
}

// LoadKey reads a private key file. It refuses a file that other users can
// read: whoever reads it can sign as its principal.
func LoadKey(path string) (*Key, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sign: key file %s: %w", path, err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(f.PrivateKey)
	if f.ID == "" || f.Principal == "" || err != nil {
		return nil, fmt.Errorf("sign: key file %s needs kid, principal and a 32-byte X25519 private_key", path)
	}
	return newKey(f.ID, f.Principal, priv), nil
}

// SaveKey writes k to path, readable by its owner alone.
func SaveKey(path string, k *Key) error {
	b, err := json.MarshalIndent(keyFile{ID: k.ID, Principal: k.Principal, PrivateKey: k.private.Bytes()}, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'), 0o600)
}

// LoadKeyring reads a keyring file.
func LoadKeyring(path string) (*Keyring, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: keyring: %w", err)
	}
	var f keyringFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("sign: keyring %s: %w", path, err)
	}
	r := &Keyring{keys: map[string]PublicKey{}}
	for _, k := range f.Keys {
		pk := PublicKey{ID: k.ID, Principal: k.Principal, Key: k.PublicKey}
		if k.NotAfter != nil {
			pk.NotAfter = *k.NotAfter
		}
		if err := r.Add(pk); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
	}
	return r, nil
}

// SaveKeyring writes r to path, its keys by principal and id.
func SaveKeyring(path string, r *Keyring) error {
	var f keyringFile
	for _, k := range r.Keys() {
		pf := publicFile{ID: k.ID, Principal: k.Principal, PublicKey: k.Key}
		if !k.NotAfter.IsZero() {
			t := k.NotAfter.UTC()
			pf.NotAfter = &t
		}
		f.Keys = append(f.Keys, pf)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'), 0o644)
}

// Retire sets the end of key id's validity.
func (r *Keyring) Retire(id string, at time.Time) error {
	k, ok := r.keys[id]
	if !ok {
		return fmt.Errorf("sign: no key %q in the keyring", id)
	}
	k.NotAfter = at
	r.keys[id] = k
	return nil
}

// NewKeyID returns a fresh id for a key of principal: its name, the day
// and a random suffix, so that the keys of a rotation tell themselves apart.
func NewKeyID(principal string, now time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return principal + "-" + now.UTC().Format("20060102") + "-" + hex.EncodeToString(b[:])
}

// EnsureDir makes dir hold a private key for each principal (as
// <principal>.key) and a keyring trusting them, creating what is missing:
// a data directory of the embedded system starts with keys of its own. It
// returns the keys and the keyring.
func EnsureDir(dir string, principals []string, now time.Time) (map[string]*Key, *Keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("sign: key directory: %w", err)
	}
	ringPath := filepath.Join(dir, KeyringFile)
	ring, err := LoadKeyring(ringPath)
	if errors.Is(err, fs.ErrNotExist) {
		ring, err = NewKeyring()
	}
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]*Key{}
	changed := false
	for _, p := range principals {
		path := filepath.Join(dir, p+".key")
		k, err := LoadKey(path)
		if errors.Is(err, fs.ErrNotExist) {
			if k, err = NewKey(NewKeyID(p, now), p); err == nil {
				err = SaveKey(path, k)
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if k.Principal != p {
			return nil, nil, fmt.Errorf("sign: %s holds a key of %q, not of %q", path, k.Principal, p)
		}
		if _, ok := ring.keys[k.ID]; !ok {
			if err := ring.Add(k.Public()); err != nil {
				return nil, nil, err
			}
			changed = true
		}
		keys[p] = k
	}
	if changed {
		if err := SaveKeyring(ringPath, ring); err != nil {
			return nil, nil, err
		}
	}
	return keys, ring, nil
}

func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sign: key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("sign: key file %s can be read by other users (mode %04o): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return os.ReadFile(path)
}

// writeFile replaces path atomically, so a crash leaves the old file or
// the new one, never half of one.
func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadDir reads a deployment's key directory: its keyring, and the private
// key of each principal in principals whose <principal>.key is there (a
// process holds the keys of the parts it runs, and no others).
func LoadDir(dir string, principals []string) (map[string]*Key, *Keyring, error) {
	ring, err := LoadKeyring(filepath.Join(dir, KeyringFile))
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]*Key{}
	for _, p := range principals {
		k, err := LoadKey(filepath.Join(dir, p+".key"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if k.Principal != p {
			return nil, nil, fmt.Errorf("sign: %s.key in %s holds a key of %q", p, dir, k.Principal)
		}
		if _, ok := ring.keys[k.ID]; !ok {
			return nil, nil, fmt.Errorf("sign: the keyring in %s does not trust %s's key %s", dir, p, k.ID)
		}
		keys[p] = k
	}
	return keys, ring, nil
}
