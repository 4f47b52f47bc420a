package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The upcasting path of Check is tested here on test-only types installed
// in the registry for the duration of one test, so that every branch (a
// chain, a gap, a failing upcaster) is covered whatever the shipped types.
// These tests must not call t.Parallel: they write the package-level map.

const testType Type = "test.Upcast"

// withKind installs k as typ for the rest of the test and removes it (or
// puts back what was there) when the test ends.
func withKind(t *testing.T, typ Type, k kind) {
	t.Helper()
	old, had := kinds[typ]
	kinds[typ] = k
	t.Cleanup(func() {
		if had {
			kinds[typ] = old
		} else {
			delete(kinds, typ)
		}
	})
}

// testV1 is the old shape: {"title": ..., "count": ...}.
type testV1 struct {
	Title string `json:"title"`
	Count int    `json:"count"`
}

// testV2 renamed the fields: {"name": ..., "seats": ...}.
type testV2 struct {
	Name  string `json:"name"`
	Seats int    `json:"seats"`
}

func (p testV2) Validate() error {
	var errs []error
	if p.Name == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if p.Seats < 1 {
		errs = append(errs, fmt.Errorf("seats must be at least 1, got %d", p.Seats))
	}
	return errors.Join(errs...)
}

// testV3 added a currency, defaulted for old payloads.
type testV3 struct {
	testV2
	Currency string `json:"currency"`
}

func (p testV3) Validate() error {
	if p.Currency == "" {
		return errors.Join(p.testV2.Validate(), errors.New("currency is required"))
	}
	return p.testV2.Validate()
}

func v1ToV2(raw json.RawMessage) (json.RawMessage, error) {
	var old testV1
	if err := json.Unmarshal(raw, &old); err != nil {
		return nil, err
	}
	return json.Marshal(testV2{Name: old.Title, Seats: old.Count})
}

func v2ToV3(raw json.RawMessage) (json.RawMessage, error) {
	var p testV3
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	p.Currency = "EUR"
	return json.Marshal(p)
}

func wantMalformedIn(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want malformed mentioning %q", wants)
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("errors.Is(%v, ErrMalformed) = false", err)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func testEnv(version int, payload string) Envelope {
	return Envelope{ID: "id", Type: testType, Version: version, SagaID: "s", Key: "k", Payload: json.RawMessage(payload)}
}

func TestUpcastV1ToV2(t *testing.T) {
	var calls []string
	withKind(t, testType, kindOf[testV2](2, map[int]Upcaster{
		1: func(raw json.RawMessage) (json.RawMessage, error) {
			calls = append(calls, string(raw))
			return v1ToV2(raw)
		},
	}))
	if CurrentVersion(testType) != 2 || !Known(testType) {
		t.Fatalf("CurrentVersion = %d, Known = %v", CurrentVersion(testType), Known(testType))
	}

	in := testEnv(1, `{"title":"Hamlet","count":2}`)
	out, err := Check(in)
	if err != nil {
		t.Fatalf("Check(v1): %v", err)
	}
	if out.Version != 2 {
		t.Errorf("Version = %d, want 2 after upcasting", out.Version)
	}
	if string(out.Payload) != `{"name":"Hamlet","seats":2}` {
		t.Errorf("Payload = %s, want the v2 shape", out.Payload)
	}
	if out.ID != in.ID || out.Type != in.Type || out.SagaID != in.SagaID || out.Key != in.Key {
		t.Errorf("Check changed the envelope's identity: %+v", out)
	}
	if string(in.Payload) != `{"title":"Hamlet","count":2}` || in.Version != 1 {
		t.Errorf("Check changed the caller's envelope: %+v", in)
	}
	if len(calls) != 1 || calls[0] != `{"title":"Hamlet","count":2}` {
		t.Errorf("upcaster calls = %q, want one with the v1 payload", calls)
	}
	p, err := Decode[testV2](out)
	if err != nil || p != (testV2{Name: "Hamlet", Seats: 2}) {
		t.Errorf("Decode = %+v, %v", p, err)
	}
	// A checked envelope checks again without upcasting twice.
	again, err := Check(out)
	if err != nil || !reflect.DeepEqual(again, out) || len(calls) != 1 {
		t.Errorf("Check(checked) = %+v, %v; upcaster calls %d", again, err, len(calls))
	}

	// A current payload is validated without upcasting.
	calls = nil
	out, err = Check(testEnv(2, `{"name":"Lear","seats":1}`))
	if err != nil || out.Version != 2 || len(calls) != 0 {
		t.Errorf("Check(v2) = %+v, %v; upcaster calls %d", out, err, len(calls))
	}

	// The upcast payload is validated as the current version.
	_, err = Check(testEnv(1, `{"title":"","count":0}`))
	wantMalformedIn(t, err, "invalid events.testV2", "name is required", "seats must be at least 1, got 0")

	// A v2 payload that is invalid is reported as such.
	_, err = Check(testEnv(2, `{"title":"Hamlet","count":2}`))
	wantMalformedIn(t, err, "name is required")

	// Newer than this build still fails.
	_, err = Check(testEnv(3, `{"name":"x","seats":1}`))
	wantMalformedIn(t, err, "test.Upcast version 3 is newer than this build reads (2)")
}

func TestUpcastChain(t *testing.T) {
	var order []int
	withKind(t, testType, kindOf[testV3](3, map[int]Upcaster{
		1: func(raw json.RawMessage) (json.RawMessage, error) { order = append(order, 1); return v1ToV2(raw) },
		2: func(raw json.RawMessage) (json.RawMessage, error) { order = append(order, 2); return v2ToV3(raw) },
	}))
	for _, c := range []struct {
		version int
		payload string
		order   []int
	}{
		{1, `{"title":"Hamlet","count":2}`, []int{1, 2}},
		{2, `{"name":"Hamlet","seats":2}`, []int{2}},
		{3, `{"name":"Hamlet","seats":2,"currency":"EUR"}`, nil},
	} {
		order = nil
		out, err := Check(testEnv(c.version, c.payload))
		if err != nil {
			t.Fatalf("Check(v%d): %v", c.version, err)
		}
		if out.Version != 3 || !reflect.DeepEqual(order, c.order) {
			t.Errorf("Check(v%d): version %d, upcasters run %v, want 3 and %v", c.version, out.Version, order, c.order)
		}
		p, err := Decode[testV3](out)
		if err != nil || p != (testV3{testV2{"Hamlet", 2}, "EUR"}) {
			t.Errorf("Check(v%d): Decode = %+v, %v", c.version, p, err)
		}
	}
}

func TestUpcastMissing(t *testing.T) {
	t.Run("no upcasters", func(t *testing.T) {
		withKind(t, testType, kindOf[testV2](2, nil))
		_, err := Check(testEnv(1, `{"title":"Hamlet","count":2}`))
		wantMalformedIn(t, err, "test.Upcast version 1 cannot be upcast")
	})
	t.Run("gap in the chain", func(t *testing.T) {
		called := false
		withKind(t, testType, kindOf[testV3](3, map[int]Upcaster{
			1: func(raw json.RawMessage) (json.RawMessage, error) { called = true; return v1ToV2(raw) },
		}))
		for _, v := range []int{1, 2} {
			out, err := Check(testEnv(v, `{"title":"Hamlet","count":2}`))
			wantMalformedIn(t, err, "test.Upcast version 2 cannot be upcast")
			if out.Version != 2 {
				t.Errorf("from v%d: the failed envelope is at version %d, want 2 (where it stopped)", v, out.Version)
			}
		}
		if !called {
			t.Error("the v1 upcaster was not run before the gap")
		}
	})
	t.Run("version 0", func(t *testing.T) {
		withKind(t, testType, kindOf[testV2](2, map[int]Upcaster{1: v1ToV2}))
		_, err := Check(testEnv(0, `{"title":"Hamlet","count":2}`))
		wantMalformedIn(t, err, "test.Upcast version 0 cannot be upcast")
	})
}

func TestUpcasterError(t *testing.T) {
	withKind(t, testType, kindOf[testV2](2, map[int]Upcaster{1: v1ToV2}))
	_, err := Check(testEnv(1, `{"title":`))
	wantMalformedIn(t, err, "upcast test.Upcast from version 1")

	withKind(t, testType, kindOf[testV2](2, map[int]Upcaster{
		1: func(json.RawMessage) (json.RawMessage, error) { return nil, errors.New("boom") },
	}))
	_, err = Check(testEnv(1, `{}`))
	wantMalformedIn(t, err, "upcast test.Upcast from version 1: boom")

	// An upcaster that returns nothing leaves an empty payload, which the
	// validation of the current version reports.
	withKind(t, testType, kindOf[testV2](2, map[int]Upcaster{
		1: func(json.RawMessage) (json.RawMessage, error) { return nil, nil },
	}))
	_, err = Check(testEnv(1, `{}`))
	wantMalformedIn(t, err, "empty payload")
}

// withKind leaves the registry as it found it.
func TestWithKindRestores(t *testing.T) {
	before := len(kinds)
	reply := kinds[StepReply]
	t.Run("install", func(t *testing.T) {
		withKind(t, testType, kindOf[testV2](2, nil))
		withKind(t, StepReply, kindOf[testV2](5, nil))
		if !Known(testType) || CurrentVersion(StepReply) != 5 {
			t.Fatal("withKind did not install")
		}
	})
	if Known(testType) || len(kinds) != before {
		t.Fatalf("test kind leaked: Known = %v, %d kinds, want %d", Known(testType), len(kinds), before)
	}
	if k := kinds[StepReply]; k.current != reply.current || reflect.ValueOf(k.validate).Pointer() != reflect.ValueOf(reply.validate).Pointer() {
		t.Fatal("replaced kind not restored")
	}
}

// Every registered type can be brought from version 1 to its current
// version: when a v2 is added, its upcaster must be added with it, or the
// logs written today stop replaying.
func TestRegistryUpcasterChainsComplete(t *testing.T) {
	for typ, k := range kinds {
		if k.current < 1 {
			t.Errorf("%s: current version %d", typ, k.current)
		}
		if k.validate == nil {
			t.Errorf("%s: no validator", typ)
		}
		for v := 1; v < k.current; v++ {
			if k.upcasters[v] == nil {
				t.Errorf("%s: no upcaster from version %d to %d", typ, v, v+1)
			}
		}
		for v := range k.upcasters {
			if v < 1 || v >= k.current {
				t.Errorf("%s: upcaster from version %d is never used (current %d)", typ, v, k.current)
			}
		}
	}
}

// Each registered validator rejects an empty payload as malformed.
func TestRegistryValidatorsRejectEmpty(t *testing.T) {
	for typ, k := range kinds {
		err := k.validate(nil)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "empty payload") {
			t.Errorf("%s: validate(nil) = %v", typ, err)
		}
	}
}
