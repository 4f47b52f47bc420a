package demo_test

import (
	"testing"

	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/participants/catalog"
)

// The demo faults are tuned to the shipped retry policies: the refund
// outage outlasts the compensation policy, so only an operator's retry
// (an attempt beyond the policy) gets the refund through.
func TestFaultsMatchThePolicies(t *testing.T) {
	if got := flows.BookTicketDefinition().CompensationRetry.MaxAttempts; got != demo.RefundOutageAttempts {
		t.Fatalf("compensations get %d attempts, the refund outage lasts %d", got, demo.RefundOutageAttempts)
	}
	if demo.CarolBounces < 1 {
		t.Fatalf("CarolBounces = %d", demo.CarolBounces)
	}
}

func TestTokensAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, tok := range []string{demo.TokenOK, demo.TokenDeclined, demo.TokenTimeout, demo.TokenRefundFails} {
		if tok == "" || seen[tok] {
			t.Fatalf("token %q empty or repeated", tok)
		}
		seen[tok] = true
	}
}

func TestUsers(t *testing.T) {
	users := demo.Users()
	for id, u := range users {
		if u.ID != id || u.Name == "" || u.Email == "" {
			t.Errorf("user %q = %+v", id, u)
		}
	}
	if c, ok := users[demo.UserCarol]; !ok || c.Blocked || c.Name != "Carol" {
		t.Fatalf("carol = %+v, %v", c, ok)
	}
	if !users["mallory"].Blocked || users["alice"].Blocked || users["bob"].Blocked {
		t.Fatal("blocked users changed")
	}
	users["alice"] = catalog.User{}
	if demo.Users()["alice"].Name != "Alice" {
		t.Fatal("Users returns a shared map")
	}
}
