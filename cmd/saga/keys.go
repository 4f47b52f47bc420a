package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

// keysDirName is the data directory's key directory.
const keysDirName = "keys"

// ensureDataDir creates the data directory readable by its owner alone, and
// tightens one that others could read: it holds the signing keys, the read
// models (bookings, users) and the broker's logs.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s can be read by other users (mode %04o) and cannot be made private: %w; chmod 700 it or choose another --data-dir", dir, fi.Mode().Perm(), err)
		}
	}
	return nil
}

// signing returns the signing keys this process holds, by principal, and
// the keyring it trusts: from --keys for a deployment, else the data
// directory's, made on first use (the embedded system signs with keys of
// its own, so no other local user can write a record it obeys).
func (g *globals) signing() (map[string]*sign.Key, *sign.Keyring, error) {
	if !g.signatures {
		return nil, nil, nil
	}
	if g.keysDir != "" {
		keys, ring, err := sign.LoadDir(g.keysDir, events.Principals())
		if err != nil {
			return nil, nil, fmt.Errorf("--keys %s: %w", g.keysDir, err)
		}
		return keys, ring, nil
	}
	if err := ensureDataDir(g.dataDir); err != nil {
		return nil, nil, err
	}
	return sign.EnsureDir(filepath.Join(g.dataDir, keysDirName), events.Principals(), time.Now())
}

// withKeys is cfg trusting the keyring and signing as principal (when this
// process holds its key).
func withKeys(cfg bus.Config, keys map[string]*sign.Key, ring *sign.Keyring, principal string) bus.Config {
	cfg.Trust, cfg.Signer = ring, keys[principal]
	return cfg
}

// keyDir is the key directory the keys commands act on.
func (g *globals) keyDir() string {
	if g.keysDir != "" {
		return g.keysDir
	}
	return filepath.Join(g.dataDir, keysDirName)
}

// rotateKey gives principal a new key in dir and keeps the old one valid
// until retire from now, so that records signed meanwhile (and processes
// not yet restarted) stay trusted; it returns the old and the new key ids.
func rotateKey(dir, principal string, retire time.Duration, now time.Time) (string, string, error) {
	if !slices.Contains(events.Principals(), principal) {
		return "", "", fmt.Errorf("unknown principal %q (want one of %v)", principal, events.Principals())
	}
	ringPath := filepath.Join(dir, sign.KeyringFile)
	ring, err := sign.LoadKeyring(ringPath)
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, principal+".key")
	var oldID string
	old, err := sign.LoadKey(path)
	switch {
	case err == nil:
		oldID = old.ID
		if err := ring.Retire(old.ID, now.Add(retire)); err != nil {
			return "", "", err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", err
	}
	k, err := sign.NewKey(sign.NewKeyID(principal, now), principal)
	if err != nil {
		return "", "", err
	}
	if err := ring.Add(k.Public()); err != nil {
		return "", "", err
	}
	// The keyring first: a crash in between leaves the old key in use and
	// the new one trusted, never a key in use that nobody trusts.
	if err := sign.SaveKeyring(ringPath, ring); err != nil {
		return "", "", err
	}
	return oldID, k.ID, sign.SaveKey(path, k)
}
