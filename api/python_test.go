package api_test

import (
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// TestPythonClientBooks runs the README's standard-library Python client
// against a running server: another language books through the API alone.
func TestPythonClientBooks(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	h := newHarness(t)
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows/show-1"})
		return r.status == 200, string(r.body)
	})
	out, err := exec.Command(py, "../examples/book.py", "--url", h.base, "--token", h.token("bob", api.RoleCustomer),
		"--show", "show-1", "--seats", "2", "--payment-token", "tok_ok").Output()
	if err != nil {
		t.Fatalf("book.py: %v: %s", err, out)
	}
	var b map[string]any
	if err := json.Unmarshal(out, &b); err != nil || b["status"] != "completed" || b["user_id"] != "bob" {
		t.Fatalf("book.py printed %s (%v), want bob's completed booking", out, err)
	}
}
