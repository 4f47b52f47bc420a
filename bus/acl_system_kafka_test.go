package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/system"
)

// runAsPrincipals runs the whole system on admin's cluster, each part as
// its own user with only the ACLs of ACLsFor, and books through a client
// that is the client principal: the ACLs are enough for the real parts.
func runAsPrincipals(t *testing.T, admin bus.Config, users map[string]string) {
	admin.Namespace = "aclsys"
	as := func(p string, cfg bus.Config) bus.Config {
		cfg.SASL = bus.SASLConfig{User: p, Password: users[p]}
		return cfg
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := system.Provision(ctx, admin); err != nil {
		t.Fatalf("provision: %v", err)
	}
	if _, err := bus.ApplyACLs(ctx, admin, bus.ACLsFor(admin, nil), false); err != nil {
		t.Fatalf("apply ACLs: %v", err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	sysCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- system.Run(sysCtx, system.Config{Bus: admin, Log: log, ReadModel: t.TempDir() + "/read.db",
			PartBus: func(part string, cfg bus.Config) bus.Config {
				if part == "projections" {
					part = events.PrincipalClient
				}
				return as(part, cfg)
			}})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("system stopped with: %v", err)
		}
	}()
	c, err := client.New(ctx, as(events.PrincipalClient, admin), client.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	defer c.Close()
	rec, err := c.Book(ctx, client.BookRequest{UserID: "alice", ShowID: "show-1", Seats: 1, PaymentToken: "tok_ok"})
	if err != nil {
		t.Fatalf("book as the client: %v", err)
	}
	v, err := c.Wait(ctx, rec.SagaID)
	if err != nil || v.Status != "completed" {
		t.Fatalf("saga %s as the principals: status %q, err %v", rec.SagaID, v.Status, err)
	}
}
