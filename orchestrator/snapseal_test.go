package orchestrator

import (
	"bytes"
	"errors"
	"testing"

	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/sign"
)

func TestSealedSnapshots(t *testing.T) {
	k, _ := sign.NewKey("orch-1", "orchestrator")
	other, _ := sign.NewKey("orch-2", "orchestrator")
	plain := encodeSnapshot(&snapshot{Running: []saga.State{{SagaID: "a", Data: []byte(`{"payment_token":"tok_secret_4242"}`)}}})

	sealed := sealSnapshot(k, plain)
	if bytes.Contains(sealed, []byte("tok_secret_4242")) {
		t.Fatal("the sealed snapshot holds the payment token in the clear")
	}
	if got, err := openSnapshot(k, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open(seal(x)) = %d bytes, %v; want the %d bytes sealed", len(got), err, len(plain))
	}
	if _, err := openSnapshot(other, sealed); !errors.Is(err, errSnapshotKey) {
		t.Errorf("opened with another key: %v", err)
	}
	if _, err := openSnapshot(nil, sealed); !errors.Is(err, errSnapshotKey) {
		t.Errorf("opened without a key: %v", err)
	}
	if _, err := openSnapshot(k, plain); !errors.Is(err, errSnapshotCorrupt) {
		t.Errorf("an orchestrator with a key read an unsealed snapshot: %v", err)
	}
	if got, err := openSnapshot(nil, plain); err != nil || !bytes.Equal(got, plain) {
		t.Errorf("without a key, an unsealed snapshot reads as it is: %v", err)
	}
	for _, at := range []int{len(sealedMagic) + 2, len(sealed) / 2, len(sealed) - 1} {
		bad := bytes.Clone(sealed)
		bad[at] ^= 1
		if _, err := openSnapshot(k, bad); err == nil {
			t.Errorf("a snapshot changed at byte %d opened", at)
		}
	}
	for n := range len(sealedMagic) + 30 {
		if _, err := openSnapshot(k, sealed[:n]); err == nil {
			t.Errorf("a snapshot cut to %d bytes opened", n)
		}
	}
}
