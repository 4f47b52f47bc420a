package system_test

import (
	"context"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/system"
)

// A client whose broker restarts under it neither refuses a booking nor
// fails a wait: the wait that was following the saga log reconnects and
// sees its saga end, and a booking posted while the broker is down is
// written once it is back.
func TestBookAndWaitAcrossABrokerRestart(t *testing.T) {
	if _, real := bustestEnv(); real {
		t.Skip("restarts the embedded broker; nothing to restart on an external cluster")
	}
	dir := t.TempDir()
	emb := bustest.StartEmbedded(t, dir)
	addr := emb.Addrs()[0]
	cfg := bus.Config{Brokers: emb.Addrs(), Namespace: bustest.Namespace(), Retry: time.Minute}
	ctx := context.Background()
	if err := system.Provision(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := &harness{t: t, cfg: cfg, c: c}
	stop := h.run()
	h.wait(h.book("alice", "show-1", 1, "tok_ok"))
	stop() // the next booking waits in the requests log

	waiting := h.book("alice", "show-1", 1, "tok_ok")
	waited := make(chan projections.SagaView, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		v, err := c.Wait(wctx, waiting.SagaID)
		if err != nil {
			t.Errorf("wait across the broker's restart: %v", err)
		}
		waited <- v
	}()
	time.Sleep(time.Second) // the wait follows the saga log
	emb.Close()
	booked := make(chan client.Receipt, 1)
	go func() {
		rec, err := c.Book(ctx, client.BookRequest{UserID: "bob", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok"})
		if err != nil {
			t.Errorf("a booking posted while the broker restarted: %v", err)
		}
		booked <- rec
	}()
	time.Sleep(2 * time.Second) // the wait and the booking meet the broker gone
	bustest.StartEmbeddedAt(t, dir, addr)
	h.run()
	if v := <-waited; v.Status != "completed" {
		t.Fatalf("the waited saga is %q after the restart, want completed", v.Status)
	}
	rec := <-booked
	if rec.SagaID == "" {
		t.FailNow()
	}
	if v := h.wait(rec); v.Status != "completed" {
		t.Fatalf("the booking posted during the restart is %s", v.Status)
	}
}
