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
