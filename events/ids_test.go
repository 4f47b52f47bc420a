package events_test

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sagaflow/saga/events"
)

// Golden ids. They were computed once (and checked against Python's
// uuid.uuid5) and must never change: a saga log written by an older build
// names its sagas, events and commands with these values, and replay,
// redelivery and idempotency across versions depend on deriving them again.
// If one of these tests fails, the derivation changed: that is a breaking
// change of every stored log, not a test to update.
const (
	goldenNamespace   = "6f1c2a52-1d0b-4a57-9a53-5f0c3e2b9d11"
	goldenSagaID      = "0599a60d-1494-5901-ae2d-f0a6497e1e2a" // SagaIDFor("order-1001")
	goldenBookingRef  = "BK-AWM2MDIU"                          // BookingRefFor(goldenSagaID)
	goldenCommandDo   = "51f93b71-29e6-5db1-9ed2-a124748589e8" // CommandID(goldenSagaID, "ReserveSeats", false, 1)
	goldenCommandUndo = "c0c1b70b-223a-5a84-bec2-2582ae70db34" // CommandID(goldenSagaID, "ReserveSeats", true, 1)
	goldenEvent1      = "c0d8f78b-985b-5653-a9d2-4d1b6af8455b" // SagaEventID(goldenSagaID, 1)
	goldenReply       = "994dd570-36d1-585c-a024-6ae8bde1d1c5" // DerivedID(goldenCommandDo, "reply")
	goldenEmptySaga   = "51e9a707-79a0-5812-879f-2938d1b35e3c" // SagaIDFor("")
	goldenEmptyRef    = "BK-KHU2OB3Z"                          // BookingRefFor(goldenEmptySaga)
)

func TestGoldenIDs(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{`SagaIDFor("order-1001")`, events.SagaIDFor("order-1001"), goldenSagaID},
		{"BookingRefFor(saga)", events.BookingRefFor(goldenSagaID), goldenBookingRef},
		{"CommandID(do)", events.CommandID(goldenSagaID, "ReserveSeats", false, 1), goldenCommandDo},
		{"CommandID(undo)", events.CommandID(goldenSagaID, "ReserveSeats", true, 1), goldenCommandUndo},
		{"SagaEventID(saga, 1)", events.SagaEventID(goldenSagaID, 1), goldenEvent1},
		{`DerivedID(cmd, "reply")`, events.DerivedID(goldenCommandDo, "reply"), goldenReply},
		{`SagaIDFor("")`, events.SagaIDFor(""), goldenEmptySaga},
		{`BookingRefFor(SagaIDFor(""))`, events.BookingRefFor(goldenEmptySaga), goldenEmptyRef},
	} {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s (a changed derivation breaks replay of existing logs)", c.name, c.got, c.want)
		}
	}
}

// uuid5 is RFC 9562 UUID version 5, written out here so that the golden
// tests pin the scheme (namespace and name layout), not just one library.
func uuid5(name string) string {
	ns, err := hex.DecodeString(strings.ReplaceAll(goldenNamespace, "-", ""))
	if err != nil {
		panic(err)
	}
	h := sha1.New()
	h.Write(ns)
	h.Write([]byte(name))
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func TestIDNameLayout(t *testing.T) {
	s := events.SagaIDFor("k")
	for _, c := range []struct{ got, name string }{
		{events.SagaIDFor("order-1001"), "saga:order-1001"},
		{events.SagaIDFor("k"), "saga:k"},
		{events.CommandID(s, "ChargePayment", false, 3), "cmd:" + s + ":ChargePayment:do:3"},
		{events.CommandID(s, "ChargePayment", true, 1), "cmd:" + s + ":ChargePayment:undo:1"},
		{events.SagaEventID(s, 42), "evt:" + s + ":42"},
		{events.DerivedID("cause", "event"), "event:cause"},
	} {
		if want := uuid5(c.name); c.got != want {
			t.Errorf("id of %q = %s, want UUIDv5 %s", c.name, c.got, want)
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSagaIDFor(t *testing.T) {
	keys := []string{"", "order-1001", "order-1002", "Order-1001", "order-1001 ", "ключ", strings.Repeat("x", 10000)}
	seen := map[string]string{}
	for _, k := range keys {
		id := events.SagaIDFor(k)
		if id != events.SagaIDFor(k) {
			t.Fatalf("SagaIDFor(%q) is not deterministic", k)
		}
		if !uuidRE.MatchString(id) {
			t.Errorf("SagaIDFor(%q) = %q is not a lower-case UUIDv5", k, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("SagaIDFor(%q) = SagaIDFor(%q) = %s", k, other, id)
		}
		seen[id] = k
	}
}

var refRE = regexp.MustCompile(`^BK-[A-Z2-7]{8}$`)

func TestBookingRefFor(t *testing.T) {
	refs := map[string]string{}
	for i := 0; i < 2000; i++ {
		s := events.SagaIDFor(fmt.Sprintf("order-%d", i))
		ref := events.BookingRefFor(s)
		if !refRE.MatchString(ref) {
			t.Fatalf("BookingRefFor(%s) = %q, want BK- and 8 base32 characters", s, ref)
		}
		if ref != events.BookingRefFor(s) {
			t.Fatalf("BookingRefFor(%s) is not deterministic", s)
		}
		// 40 bits: no collision is expected among a few thousand sagas.
		if other, dup := refs[ref]; dup {
			t.Fatalf("BookingRefFor(%s) = BookingRefFor(%s) = %s", s, other, ref)
		}
		refs[ref] = s
	}
	// The reference depends on the saga's bytes, not on how its id is written.
	if events.BookingRefFor(strings.ToUpper(goldenSagaID)) != goldenBookingRef {
		t.Error("BookingRefFor depends on the case of the saga id")
	}
}

// BookingRefFor accepts only saga ids (UUIDs): anything else is a
// programming error and panics.
func TestBookingRefForPanicsOnNonUUID(t *testing.T) {
	for _, s := range []string{"", "order-1001", "BK-AWM2MDIU"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("BookingRefFor(%q) did not panic", s)
				}
			}()
			events.BookingRefFor(s)
		}()
	}
}

func TestCommandID(t *testing.T) {
	s1, s2 := events.SagaIDFor("a"), events.SagaIDFor("b")
	type args struct {
		saga, step string
		comp       bool
		attempt    int
	}
	all := []args{}
	for _, s := range []string{s1, s2} {
		for _, step := range []string{"ReserveSeats", "ChargePayment", ""} {
			for _, comp := range []bool{false, true} {
				for _, attempt := range []int{0, 1, 2, 10, -1} {
					all = append(all, args{s, step, comp, attempt})
				}
			}
		}
	}
	seen := map[string]args{}
	for _, a := range all {
		id := events.CommandID(a.saga, a.step, a.comp, a.attempt)
		if id != events.CommandID(a.saga, a.step, a.comp, a.attempt) {
			t.Fatalf("CommandID%+v is not stable", a)
		}
		if !uuidRE.MatchString(id) {
			t.Fatalf("CommandID%+v = %q", a, id)
		}
		if other, dup := seen[id]; dup {
			t.Fatalf("CommandID%+v = CommandID%+v = %s", a, other, id)
		}
		seen[id] = a
	}
	base := events.CommandID(s1, "ReserveSeats", false, 1)
	for name, id := range map[string]string{
		"saga":    events.CommandID(s2, "ReserveSeats", false, 1),
		"step":    events.CommandID(s1, "ChargePayment", false, 1),
		"phase":   events.CommandID(s1, "ReserveSeats", true, 1),
		"attempt": events.CommandID(s1, "ReserveSeats", false, 2),
	} {
		if id == base {
			t.Errorf("CommandID does not depend on the %s", name)
		}
	}
}

func TestSagaEventID(t *testing.T) {
	s1, s2 := events.SagaIDFor("a"), events.SagaIDFor("b")
	seen := map[string]string{}
	for _, s := range []string{s1, s2} {
		for seq := 0; seq <= 100; seq++ {
			id := events.SagaEventID(s, seq)
			if id != events.SagaEventID(s, seq) {
				t.Fatalf("SagaEventID(%s, %d) is not stable", s, seq)
			}
			if !uuidRE.MatchString(id) {
				t.Fatalf("SagaEventID(%s, %d) = %q", s, seq, id)
			}
			where := fmt.Sprint(s, "#", seq)
			if other, dup := seen[id]; dup {
				t.Fatalf("SagaEventID %s = %s = %s", where, other, id)
			}
			seen[id] = where
		}
	}
}

func TestDerivedID(t *testing.T) {
	cause := events.CommandID(events.SagaIDFor("a"), "ReserveSeats", false, 1)
	ids := map[string]string{}
	for _, c := range []struct{ cause, role string }{
		{cause, "reply"}, {cause, "event"}, {cause, "request"}, {cause, ""},
		{"other", "reply"}, {"", "reply"}, {"", ""},
	} {
		id := events.DerivedID(c.cause, c.role)
		if id != events.DerivedID(c.cause, c.role) {
			t.Fatalf("DerivedID(%q, %q) is not stable", c.cause, c.role)
		}
		if !uuidRE.MatchString(id) {
			t.Fatalf("DerivedID(%q, %q) = %q", c.cause, c.role, id)
		}
		where := c.role + "/" + c.cause
		if other, dup := ids[id]; dup {
			t.Fatalf("DerivedID %s = %s", where, other)
		}
		ids[id] = where
	}
	// A derived id is not the id it derives from, nor any other kind of id
	// of the same saga.
	s := events.SagaIDFor("a")
	for _, other := range []string{cause, s, events.SagaEventID(s, 1), events.CommandID(s, "ReserveSeats", true, 1)} {
		if events.DerivedID(other, "reply") == other || events.DerivedID(other, "event") == other {
			t.Fatalf("DerivedID(%s) is its cause", other)
		}
	}
}

// The different derivations do not meet for the inputs the product uses:
// a saga id, its events, its commands and their replies are all distinct.
func TestIDKindsDistinct(t *testing.T) {
	seen := map[string]string{}
	add := func(what, id string) {
		if other, dup := seen[id]; dup {
			t.Fatalf("%s = %s = %s", what, other, id)
		}
		seen[id] = what
	}
	for _, key := range []string{"order-1", "order-2"} {
		s := events.SagaIDFor(key)
		add("saga "+key, s)
		add("request "+key, events.DerivedID(key, "request"))
		for seq := 1; seq <= 5; seq++ {
			add(fmt.Sprint("event ", key, seq), events.SagaEventID(s, seq))
		}
		for _, step := range []string{"VerifyUser", "ReserveSeats"} {
			for _, comp := range []bool{false, true} {
				c := events.CommandID(s, step, comp, 1)
				add(fmt.Sprint("command ", key, step, comp), c)
				add(fmt.Sprint("reply ", key, step, comp), events.DerivedID(c, "reply"))
				add(fmt.Sprint("event ", key, step, comp), events.DerivedID(c, "event"))
			}
		}
	}
}
