package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/sign"
)

func TestRotateKey(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	before, _, err := sign.EnsureDir(dir, events.Principals(), now)
	if err != nil {
		t.Fatal(err)
	}
	old, fresh, err := rotateKey(dir, events.ServicePayment, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if old != before[events.ServicePayment].ID || fresh == old {
		t.Fatalf("rotate = %s, %s; want the old key %s and a new one", old, fresh, before[events.ServicePayment].ID)
	}
	keys, ring, err := sign.LoadDir(dir, events.Principals())
	if err != nil {
		t.Fatal(err)
	}
	if keys[events.ServicePayment].ID != fresh || keys[events.ServiceBooking].ID != before[events.ServiceBooking].ID {
		t.Errorf("after the rotation payment signs with %s (want %s), booking with %s (want its old key)",
			keys[events.ServicePayment].ID, fresh, keys[events.ServiceBooking].ID)
	}
	rec := sign.Record{Topic: "payment.events", Headers: map[string]string{"id": "1"}, Payload: []byte("{}")}
	sigs, err := ring.Sign(before[events.ServicePayment], rec, []string{events.PrincipalClient}, now)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sigs {
		rec.Headers[k] = v
	}
	reader := keys[events.PrincipalClient]
	if p, err := ring.Verify(reader, rec, now.Add(59*time.Minute)); err != nil || p != events.ServicePayment {
		t.Errorf("the old key within its hour: %q, %v", p, err)
	}
	if _, err := ring.Verify(reader, rec, now.Add(61*time.Minute)); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("the old key after its hour: %v, want it refused", err)
	}
	if _, _, err := rotateKey(dir, "mallory", time.Hour, now); err == nil {
		t.Error("rotated the key of an unknown principal")
	}
}

func TestDataDirIsTightened(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ensureDataDir(dir); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %04o, want 0700", fi.Mode().Perm())
	}
	fresh := filepath.Join(t.TempDir(), "new", "data")
	if err := ensureDataDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Errorf("new data directory mode %04o, want 0700", fi.Mode().Perm())
	}
}
