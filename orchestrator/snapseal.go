package orchestrator

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/sagaflow/saga/sign"
)

// A snapshot holds the data of running sagas, payment tokens included, so
// it is written encrypted (AES-256-GCM) with a key derived from the
// orchestrator's signing key: only an orchestrator of this deployment
// reads it. A sealed snapshot starts with sealedMagic, the id of the key
// it was derived from and the nonce. After the orchestrator's key is
// rotated the snapshots sealed with the old one cannot be opened, and
// recovery folds the log instead until a new snapshot is written.
const sealedMagic = "SGSE\x01"

const sealInfo = "saga orchestrator snapshots v1"

func snapshotAEAD(k *sign.Key) cipher.AEAD {
	block, err := aes.NewCipher(k.Derive(sealInfo, 32))
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}

// sealSnapshot encrypts an encoded snapshot; without a key it is kept as
// it is (a system that runs without signatures).
func sealSnapshot(k *sign.Key, plain []byte) []byte {
	if k == nil {
		return plain
	}
	aead := snapshotAEAD(k)
	out := make([]byte, 0, len(sealedMagic)+1+len(k.ID)+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, sealedMagic...)
	out = append(out, byte(len(k.ID)))
	out = append(out, k.ID...)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	header := out[:len(out)-len(nonce)]
	return aead.Seal(out, nonce, plain, header)
}

var errSnapshotKey = errors.New("sealed with another key")

// openSnapshot decrypts what sealSnapshot wrote. An unsealed snapshot is
// read only by an orchestrator without a key: one with a key trusts no
// snapshot it did not seal.
func openSnapshot(k *sign.Key, b []byte) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(sealedMagic)) {
		if k != nil {
			return nil, fmt.Errorf("%w: the snapshot is not sealed", errSnapshotCorrupt)
		}
		return b, nil
	}
	if k == nil {
		return nil, fmt.Errorf("%w: the snapshot is sealed and this orchestrator has no key", errSnapshotKey)
	}
	rest := b[len(sealedMagic):]
	if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
		return nil, fmt.Errorf("%w: sealed header cut short", errSnapshotCorrupt)
	}
	kid := string(rest[1 : 1+int(rest[0])])
	if kid != k.ID {
		return nil, fmt.Errorf("%w: %s, not %s", errSnapshotKey, kid, k.ID)
	}
	aead := snapshotAEAD(k)
	at := len(sealedMagic) + 1 + len(kid)
	if len(b) < at+aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed snapshot cut short", errSnapshotCorrupt)
	}
	nonce := b[at : at+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, b[at+aead.NonceSize():], b[:at])
	if err != nil {
		return nil, fmt.Errorf("%w: it does not open with key %s", errSnapshotCorrupt, kid)
	}
	return plain, nil
}
