package main

import "testing"

// TestOperatorActorIsNeverACustomer: whatever --as says, the CLI's actor
// is an operator's.
func TestOperatorActorIsNeverACustomer(t *testing.T) {
	t.Setenv(envOperator, "")
	t.Setenv("USER", "dana")
	cases := map[string]string{"": "operator:dana", "mallory": "operator:mallory", "operator:eve": "operator:eve", " alice ": "operator:alice"}
	for in, want := range cases {
		if got := operatorActor(in); got != want {
			t.Errorf("operatorActor(%q) = %q, want %q", in, got, want)
		}
	}
	t.Setenv(envOperator, "ops-1")
	if got := operatorActor(""); got != "operator:ops-1" {
		t.Errorf("with $%s: %q", envOperator, got)
	}
}

func TestAPIPart(t *testing.T) {
	cases := []struct {
		parts    []string
		addr     string
		wantRest []string
		wantAddr string
	}{
		{nil, "127.0.0.1:1", nil, "127.0.0.1:1"},
		{[]string{"orchestrator"}, "127.0.0.1:1", []string{"orchestrator"}, ""},
		{[]string{"orchestrator", "api"}, "127.0.0.1:1", []string{"orchestrator"}, "127.0.0.1:1"},
		{[]string{"api"}, "127.0.0.1:1", []string{}, "127.0.0.1:1"},
	}
	for _, c := range cases {
		rest, addr := apiPart(c.parts, c.addr)
		if addr != c.wantAddr || len(rest) != len(c.wantRest) {
			t.Errorf("apiPart(%v) = %v %q, want %v %q", c.parts, rest, addr, c.wantRest, c.wantAddr)
		}
	}
}
