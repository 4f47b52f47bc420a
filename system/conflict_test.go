package system_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
)

// TestReusedKeyGoesToDeadLetters posts a second request under a running
// saga's idempotency key, as a client that checks nothing would: it is
// dead-lettered with the reason, and the saga goes on with its own data.
func TestReusedKeyGoesToDeadLetters(t *testing.T) {
	h := newHarness(t)
	stop := h.run("orchestrator") // no participant answers: the saga stays running
	ctx := context.Background()
	first, err := h.c.Book(ctx, client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 2, PaymentToken: "tok_ok", IdempotencyKey: "order-77"})
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		v, err := h.c.Inspect(ctx, first.SagaID)
		return err == nil && v.Status == "running", "the first request's saga is not running yet"
	})
	if _, err := h.c.Book(ctx, client.BookRequest{UserID: "bob", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok", IdempotencyKey: "order-77"}); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, sagaTimeout, func() (bool, string) {
		letters, err := h.c.DeadLetters(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, d := range letters {
			if d.Topic == "saga.requests" && strings.Contains(d.Reason, `idempotency key "order-77" was used for another request`) {
				return true, ""
			}
		}
		return false, "no dead letter for the reused key"
	})
	stop()
	h.run()
	v := h.wait(first)
	if v.Status != "completed" || !strings.Contains(string(v.Data), `"user_id":"alice"`) || !strings.Contains(string(v.Data), `"seats":2`) {
		t.Fatalf("the key's saga ended %s with %s, want completed for alice's two seats", v.Status, v.Data)
	}
}
