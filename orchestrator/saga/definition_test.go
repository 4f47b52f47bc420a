package saga_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func TestRetryDelay(t *testing.T) {
	p := saga.RetryPolicy{MaxAttempts: 3, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second}
	base := []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}
	for seed := 0; seed < 200; seed++ {
		s := fmt.Sprintf("saga-%d", seed)
		for attempt := 1; attempt < len(base); attempt++ {
			got := p.Delay(attempt, s)
			if max, min := base[attempt], base[attempt]*4/5; got > max || got <= min {
				t.Fatalf("Delay(%d, %q) = %s, want in (%s, %s]", attempt, s, got, min, max)
			}
			if again := p.Delay(attempt, s); again != got {
				t.Fatalf("Delay(%d, %q) not deterministic: %s then %s", attempt, s, got, again)
			}
		}
		if p.Delay(100, s) != p.Delay(7, s) {
			t.Fatalf("Delay past the cap differs: %s vs %s", p.Delay(100, s), p.Delay(7, s))
		}
	}
	// The jitter spreads: different seeds give different delays.
	seen := map[time.Duration]bool{}
	for seed := 0; seed < 100; seed++ {
		seen[p.Delay(1, fmt.Sprint(seed))] = true
	}
	if len(seen) < 50 {
		t.Errorf("only %d distinct delays over 100 seeds", len(seen))
	}
	// Doubling of the jittered delay: same seed, same fraction.
	if d1, d2 := p.Delay(1, "x"), p.Delay(2, "x"); d2 != 2*d1 {
		t.Errorf("Delay(2) = %s, want twice Delay(1) = %s", d2, d1)
	}

	for _, tc := range []struct {
		name string
		p    saga.RetryPolicy
		at   int
		max  time.Duration
	}{
		{"no backoff", saga.RetryPolicy{MaxAttempts: 3}, 2, 0},
		{"no cap", saga.RetryPolicy{MaxAttempts: 9, Backoff: time.Second}, 6, 32 * time.Second},
		{"backoff above the cap", saga.RetryPolicy{MaxAttempts: 9, Backoff: time.Minute, MaxBackoff: time.Second}, 1, time.Second},
		{"attempt zero is the first", saga.RetryPolicy{MaxAttempts: 9, Backoff: time.Second}, 0, time.Second},
	} {
		got := tc.p.Delay(tc.at, "seed")
		if got > tc.max || got < tc.max*4/5 {
			t.Errorf("%s: Delay(%d) = %s, want about %s", tc.name, tc.at, got, tc.max)
		}
	}
}

func validStep(name string) saga.Step {
	return saga.Step{Name: name, Service: "svc", Command: events.Type("Do" + name), Compensation: events.Type("Undo" + name), Timeout: time.Second,
		Retry: saga.RetryPolicy{MaxAttempts: 1}}
}

func TestDefinitionValidate(t *testing.T) {
	good := saga.Definition{Name: "good", Steps: []saga.Step{validStep("A"), validStep("B")}, CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}}
	good.Steps[1].Pivot, good.Steps[1].Compensation = true, ""
	if err := good.Validate(); err != nil {
		t.Fatalf("valid definition: %v", err)
	}

	t.Run("no steps", func(t *testing.T) {
		err := saga.Definition{Name: "empty", CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}}.Validate()
		if err == nil || !strings.Contains(err.Error(), "at least one step") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("every problem at once", func(t *testing.T) {
		bad := saga.Definition{Name: "bad", Steps: []saga.Step{
			validStep("A"),
			validStep("A"), // duplicate
			func() saga.Step { s := validStep("P"); s.Pivot, s.Compensation = true, ""; return s }(),
			validStep("AfterPivot"), // compensation after the pivot
			func() saga.Step { s := validStep("P2"); s.Pivot, s.Compensation = true, ""; return s }(),
			func() saga.Step { s := validStep("Z"); s.Compensation, s.Timeout = "", 0; return s }(),
			func() saga.Step { s := validStep("N"); s.Compensation, s.Timeout = "", -time.Second; return s }(),
			func() saga.Step { s := validStep("R"); s.Compensation, s.Retry.MaxAttempts = "", 0; return s }(),
			{Name: "Anon", Timeout: time.Second, Retry: saga.RetryPolicy{MaxAttempts: 1}},
		}}
		err := bad.Validate()
		if err == nil {
			t.Fatal("invalid definition accepted")
		}
		for _, want := range []string{
			`step name "A" is used twice`,
			`step "AfterPivot" comes after the pivot`,
			"at most one pivot",
			`step "Z" needs a positive timeout`,
			`step "N" needs a positive timeout`,
			`step "R" needs at least one attempt`,
			"step 8 needs a name, a service and a command",
			"compensations need at least one attempt",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not report %q:\n%v", want, err)
			}
		}
		var joined interface{ Unwrap() []error }
		if !errors.As(err, &joined) || len(joined.Unwrap()) != 8 {
			t.Errorf("want 8 problems joined, got %v", err)
		}
	})

	t.Run("no name", func(t *testing.T) {
		d := good
		d.Name = ""
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "name is required") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNewDefinitions(t *testing.T) {
	a := saga.Definition{Name: "a", Steps: []saga.Step{validStep("S")}, CompensationRetry: saga.RetryPolicy{MaxAttempts: 1}}
	b := a
	b.Name = "b"
	defs, err := saga.NewDefinitions(a, b)
	if err != nil || len(defs) != 2 || defs["a"].Name != "a" {
		t.Fatalf("NewDefinitions = %v, %v", defs, err)
	}
	if _, err := saga.NewDefinitions(a, a); err == nil || !strings.Contains(err.Error(), `"a" is given twice`) {
		t.Errorf("duplicate: %v", err)
	}
	bad := a
	bad.Name, bad.Steps = "bad", nil
	if defs, err := saga.NewDefinitions(a, bad); err == nil || len(defs) != 1 {
		t.Errorf("invalid definition: %v, %v", defs, err)
	}
	m := saga.NewMachine(defs)
	if d, ok := m.Definition("a"); !ok || d.Name != "a" {
		t.Error("Machine.Definition(a) not found")
	}
	if _, ok := m.Definition("zzz"); ok {
		t.Error("Machine.Definition(zzz) found")
	}
}
