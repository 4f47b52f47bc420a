package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sagaflow/saga/api"
	"github.com/sagaflow/saga/bus/bustest"
)

// Many synchronous requests waiting at once are each answered with their
// own saga's end: one watch of the read model serves them all.
func TestManyWaitingRequestsGetTheirOwnEnds(t *testing.T) {
	h := newHarness(t)
	alice := h.token("alice", api.RoleCustomer)
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		r := h.do(h.base, req{method: "GET", path: "/v1/shows?country=US"})
		return r.status == 200 && strings.Contains(string(r.body), `"show-1"`), string(r.body)
	})
	const n = 40
	type answer struct {
		status int
		body   map[string]any
		raw    string
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			token := "tok_ok"
			if i%4 == 3 {
				token = "tok_declined"
			}
			r := h.do(h.base, req{method: "POST", path: "/v1/bookings", token: alice, body: booking("show-1", 1, token),
				headers: []string{"Prefer", "wait=60", "Idempotency-Key", fmt.Sprintf("many-waiting-%d", i)}})
			a := answer{status: r.status, raw: string(r.body)}
			_ = json.Unmarshal(r.body, &a.body) // a body that is not JSON fails the check below
			answers[i] = a
		})
	}
	wg.Wait()
	for i, a := range answers {
		want := "completed"
		if i%4 == 3 {
			want = "compensated"
		}
		if a.status != 201 || a.body["status"] != want {
			t.Errorf("booking %d: %d %s, want 201 %s", i, a.status, a.raw, want)
		}
	}
}
