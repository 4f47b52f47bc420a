package catalogue

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/definition"
	"github.com/sagaflow/saga/orchestrator/saga"
)

func compiled(t *testing.T, description string) saga.Definition {
	t.Helper()
	spec, err := definition.Parse([]byte("name: lite\ndescription: " + description + "\nsteps:\n  - {name: VerifyUser, service: user, command: VerifyUser}\n"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := spec.Compile(definition.BuiltinServices())
	if err != nil {
		t.Fatal(err)
	}
	return def
}

// TestCache: a miss or a name's current version reads the topic at most
// once a second, a refresh reads it whenever asked, and concurrent
// readers agree.
func TestCache(t *testing.T) {
	cfg := bustest.Start(t)
	ctx := context.Background()
	if err := bus.Provision(ctx, cfg, []bus.TopicSpec{{Name: events.TopicDefinitions, Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewCache(cfg, nil)
	c.now = func() time.Time { return clock }

	if _, ok, err := c.Current(ctx, "lite"); err != nil || ok {
		t.Fatalf("empty catalogue: ok %v, err %v", ok, err)
	}
	v1, v2 := compiled(t, "one"), compiled(t, "two")
	if _, err := Publish(ctx, cfg, cfg, v1, "operator", clock); err != nil {
		t.Fatal(err)
	}
	// Within a second of the last read, a miss does not read again.
	if _, ok, _ := c.Version(ctx, v1.Version); ok {
		t.Fatal("a miss read the topic again within a second")
	}
	clock = clock.Add(RefreshEvery)
	if v, ok, err := c.Version(ctx, v1.Version); err != nil || !ok || v.Name != "lite" || v.Actor != "operator" {
		t.Fatalf("version %s after a second: %+v %v %v", v1.Version, v, ok, err)
	}
	if _, err := Publish(ctx, cfg, cfg, v2, "operator", clock); err != nil {
		t.Fatal(err)
	}
	if cur, _, _ := c.Current(ctx, "lite"); cur.Version != v1.Version {
		t.Fatalf("the topic was read again within a second: current %s", cur.Version)
	}
	clock = clock.Add(RefreshEvery)
	if cur, _, _ := c.Current(ctx, "lite"); cur.Version != v2.Version {
		t.Fatalf("a second later, current %s, want %s", cur.Version, v2.Version)
	}
	if _, err := Publish(ctx, cfg, cfg, v1, "operator", clock); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cur, ok, err := c.Current(ctx, "lite")
			old, okOld, errOld := c.Version(ctx, v1.Version)
			all, errAll := c.All(ctx)
			if err != nil || errOld != nil || errAll != nil || !ok || !okOld || cur.Version != v1.Version || old.Version != v1.Version || len(all) != 3 {
				t.Errorf("after a refresh: current %s %v %v, v1 %v %v, all %d %v", cur.Version, ok, err, okOld, errOld, len(all), errAll)
			}
		}()
	}
	wg.Wait()
}
