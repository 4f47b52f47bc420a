package sign_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sagaflow/saga/sign"
)

func record() sign.Record {
	return sign.Record{Topic: "payment.commands", Key: "BK-1", Payload: []byte(`{"amount_cents":1200}`), Headers: map[string]string{
		"id": "c1", "type": "ChargePayment", "version": "1", "saga_id": "s1", "correlation_id": "BK-1",
		"causation_id": "e1", "actor": "alice", "occurred_at": "2026-12-03T10:00:00Z",
	}}
}

// signed is r as writer signs it for readers, with the keyring ring.
func signed(t *testing.T, ring *sign.Keyring, writer *sign.Key, r sign.Record, readers ...string) sign.Record {
	t.Helper()
	if len(readers) == 0 {
		readers = []string{"payment"}
	}
	sigs, err := ring.Sign(writer, r, readers, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for n, v := range r.Headers {
		h[n] = v
	}
	for n, v := range sigs {
		h[n] = v
	}
	r.Headers = h
	return r
}

func newKey(t *testing.T, id, principal string) *sign.Key {
	t.Helper()
	k, err := sign.NewKey(id, principal)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVerify(t *testing.T) {
	orch := newKey(t, "orch-1", "orchestrator")
	pay := newKey(t, "pay-1", "payment")
	old := newKey(t, "pay-0", "payment")
	notif := newKey(t, "notif-1", "notification")
	ring, err := sign.NewKeyring(orch.Public(), pay.Public(), old.Public(), notif.Public())
	if err != nil {
		t.Fatal(err)
	}
	retired := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := ring.Retire("pay-0", retired); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)

	good := signed(t, ring, orch, record())
	tamper := func(f func(r *sign.Record)) sign.Record {
		r := good
		r.Headers = map[string]string{}
		for n, v := range good.Headers {
			r.Headers[n] = v
		}
		f(&r)
		return r
	}
	// notification signs as itself, then claims to be the orchestrator.
	posing := signed(t, ring, notif, record())
	posing.Headers[sign.HeaderKeyID] = "orch-1"
	type tc struct {
		name   string
		rec    sign.Record
		me     *sign.Key
		at     time.Time
		signer string
		err    error
	}
	cases := []tc{
		{name: "signed", rec: good, me: pay, at: now, signer: "orchestrator"},
		{name: "for the reader's older key too", rec: good, me: old, at: now, signer: "orchestrator"},
		{name: "not for this reader", rec: good, me: notif, at: now, err: sign.ErrBadSignature},
		{name: "another writer", rec: signed(t, ring, notif, record()), me: pay, at: now, signer: "notification"},
		{name: "a writer posing as another", rec: posing, me: pay, at: now, err: sign.ErrBadSignature},
		{name: "unsigned", rec: record(), me: pay, at: now, err: sign.ErrUnsigned},
		{name: "topic changed", rec: tamper(func(r *sign.Record) { r.Topic = "booking.commands" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "key changed", rec: tamper(func(r *sign.Record) { r.Key = "BK-2" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "payload changed", rec: tamper(func(r *sign.Record) { r.Payload = []byte(`{"amount_cents":99999900}`) }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "payload emptied", rec: tamper(func(r *sign.Record) { r.Payload = nil }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "bytes moved between fields", rec: tamper(func(r *sign.Record) { r.Topic, r.Key = "payment.command", "sBK-1" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "kid of another key", rec: tamper(func(r *sign.Record) { r.Headers[sign.HeaderKeyID] = "notif-1" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "unknown kid", rec: tamper(func(r *sign.Record) { r.Headers[sign.HeaderKeyID] = "nobody" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "signature without kid", rec: tamper(func(r *sign.Record) { delete(r.Headers, sign.HeaderKeyID) }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "kid without signature", rec: tamper(func(r *sign.Record) { delete(r.Headers, sign.HeaderSignaturePrefix+"pay-1") }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "signature garbled", rec: tamper(func(r *sign.Record) { r.Headers[sign.HeaderSignaturePrefix+"pay-1"] = "!!" }), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "signature of the older key", rec: tamper(func(r *sign.Record) {
			r.Headers[sign.HeaderSignaturePrefix+"pay-1"] = r.Headers[sign.HeaderSignaturePrefix+"pay-0"]
		}), me: pay, at: now, err: sign.ErrBadSignature},
		{name: "retired writer key before its end", rec: signed(t, ring, old, record(), "orchestrator"), me: orch, at: retired.Add(-time.Second), signer: "payment"},
		{name: "retired writer key after its end", rec: signed(t, ring, old, record(), "orchestrator"), me: orch, at: now, err: sign.ErrBadSignature},
		{name: "unsigned header added", rec: tamper(func(r *sign.Record) { r.Headers["traceparent"] = "00-abc" }), me: pay, at: now, signer: "orchestrator"},
	}
	for _, h := range sign.Signed {
		cases = append(cases,
			tc{name: "header " + h + " changed", rec: tamper(func(r *sign.Record) { r.Headers[h] += "x" }), me: pay, at: now, err: sign.ErrBadSignature},
			tc{name: "header " + h + " removed", rec: tamper(func(r *sign.Record) { delete(r.Headers, h) }), me: pay, at: now, err: sign.ErrBadSignature})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ring.Verify(c.me, c.rec, c.at)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("Verify = %q, %v; want %v", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.signer {
				t.Fatalf("Verify = %q, %v; want %q", got, err, c.signer)
			}
		})
	}
	if _, err := ring.Sign(orch, record(), []string{"nobody"}, now); err == nil {
		t.Error("signed for a reader the keyring has no key of")
	}
}

func TestKeyringRefusesBadKeys(t *testing.T) {
	k := newKey(t, "a", "orchestrator")
	if _, err := sign.NewKeyring(k.Public(), k.Public()); err == nil {
		t.Error("two keys with one id were accepted")
	}
	noID := k.Public()
	noID.ID = ""
	if _, err := sign.NewKeyring(noID); err == nil {
		t.Error("a key without an id was accepted")
	}
	short := k.Public()
	short.Key = short.Key[:10]
	if _, err := sign.NewKeyring(short); err == nil {
		t.Error("a 10-byte public key was accepted")
	}
}

func TestEnsureDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	keys, ring, err := sign.EnsureDir(dir, []string{"orchestrator", "payment"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", fi.Mode().Perm())
	}
	for _, p := range []string{"orchestrator", "payment"} {
		fi, err := os.Stat(filepath.Join(dir, p+".key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key: %v, mode %v; want 0600", p, err, fi)
		}
		r := signed(t, ring, keys[p], record(), "orchestrator")
		if got, err := ring.Verify(keys["orchestrator"], r, now); err != nil || got != p {
			t.Errorf("a record signed by %s verifies as %q, %v", p, got, err)
		}
	}

	// Again: the same keys, and one more principal.
	again, ring2, err := sign.EnsureDir(dir, []string{"orchestrator", "payment", "client"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if again["payment"].ID != keys["payment"].ID {
		t.Errorf("payment's key changed from %s to %s", keys["payment"].ID, again["payment"].ID)
	}
	if n := len(ring2.Keys()); n != 3 {
		t.Errorf("keyring holds %d keys, want 3", n)
	}
	loaded, err := sign.LoadKeyring(filepath.Join(dir, sign.KeyringFile))
	if err != nil || len(loaded.Keys()) != 3 {
		t.Fatalf("LoadKeyring: %v, %d keys", err, len(loaded.Keys()))
	}
	if got, err := loaded.Verify(again["payment"], signed(t, loaded, again["client"], record()), now); err != nil || got != "client" {
		t.Errorf("the saved keyring verifies client's record as %q, %v", got, err)
	}

	// A key file others can read is refused, not used.
	path := filepath.Join(dir, "payment.key")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := sign.LoadKey(path); err == nil {
		t.Error("a key file with mode 0644 was loaded")
	}
}

func TestRetiredKeyInKeyringFile(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, "pay-0", "payment")
	reader := newKey(t, "orch-1", "orchestrator")
	ring, _ := sign.NewKeyring(k.Public(), reader.Public())
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if err := ring.Retire("pay-0", end); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sign.KeyringFile)
	if err := sign.SaveKeyring(path, ring); err != nil {
		t.Fatal(err)
	}
	loaded, err := sign.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	r := signed(t, loaded, k, record(), "orchestrator")
	if _, err := loaded.Verify(reader, r, end.Add(time.Hour)); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("retired key after its end: %v", err)
	}
	if _, err := loaded.Verify(reader, r, end.Add(-time.Hour)); err != nil {
		t.Errorf("retired key before its end: %v", err)
	}
}

// FuzzVerify: no record made of untrusted bytes verifies unless the key
// signed exactly it, and none makes Verify panic.
func FuzzVerify(f *testing.F) {
	k, _ := sign.NewKey("k", "orchestrator")
	me, _ := sign.NewKey("p", "payment")
	ring, _ := sign.NewKeyring(k.Public(), me.Public())
	base := record()
	sigs, _ := ring.Sign(k, base, []string{"payment"}, time.Now())
	f.Add("payment.commands", "BK-1", "ChargePayment", []byte(`{"amount_cents":1200}`), sigs["sig.p"])
	f.Add("", "", "", []byte{}, "")
	f.Fuzz(func(t *testing.T, topic, key, typ string, payload []byte, sig string) {
		r := record()
		r.Topic, r.Key, r.Payload = topic, key, payload
		r.Headers["type"] = typ
		r.Headers["sig.p"], r.Headers[sign.HeaderKeyID] = sig, "k"
		_, err := ring.Verify(me, r, time.Now())
		same := topic == base.Topic && key == base.Key && typ == base.Headers["type"] && string(payload) == string(base.Payload)
		if err == nil && !same {
			t.Fatalf("a record the key did not sign verified: %q %q %q %q", topic, key, typ, payload)
		}
	})
}

// A key that claims another's id, used first in the same process, leaves
// the genuine key's signatures as they were.
func TestImpostorDoesNotPoisonTheGenuineKey(t *testing.T) {
	pay := newKey(t, "pay-1", "payment")
	orch := newKey(t, "orch-1", "orchestrator")
	impostor := newKey(t, "pay-1", "payment")
	ring, _ := sign.NewKeyring(pay.Public(), orch.Public())
	fake := signed(t, ring, impostor, record(), "orchestrator")
	if _, err := ring.Verify(orch, fake, time.Now()); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("the impostor's record: %v, want a bad signature", err)
	}
	real := signed(t, ring, pay, record(), "orchestrator")
	if p, err := ring.Verify(orch, real, time.Now()); err != nil || p != "payment" {
		t.Errorf("the genuine key's record after the impostor's: %q, %v", p, err)
	}
}
