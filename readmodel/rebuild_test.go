package readmodel_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/readmodel"
)

// A rebuild stopped halfway (a failed batch, then a cancelled context)
// leaves the live tables answering as before; run again, it carries on
// from its own offsets and swaps in tables identical to the live ones, to
// a rebuild that ran straight through, and to the fold.
func TestRebuildInterruptedIsIdentical(t *testing.T) {
	t.Parallel()
	cfg := startBroker(t)
	publishSims(t, cfg, 700, 6000)
	publishLetters(t, cfg, 799, 800)
	recs := readBack(t, cfg)
	m := fold(cfg, recs)
	// quarter[key] is a quarter of the records the projection reads.
	quarter := map[string]int{}
	for _, name := range readmodel.Names() {
		for _, topic := range projectionTopics[name] {
			for _, r := range recs {
				if r.Topic == cfg.Topic(topic) {
					quarter[name+"#next"]++
				}
			}
		}
		quarter[name+"#next"] /= 4
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	db := openDB(t)
	db.SetBatchSize(150)
	if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
		t.Fatal(err)
	}
	live := dump(t, db, "")
	assertMatches(t, db, m)

	// First stop: a batch fails after some records of every rebuild.
	var mu sync.Mutex
	seen := map[string]int{}
	checkedLive := false
	readmodel.SetHook(db, func(key string, n int) error {
		if !strings.HasSuffix(key, "#next") {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		seen[key]++
		if seen[key] == quarter[key]/2 && !checkedLive {
			// Mid-rebuild, readers still get the live tables.
			checkedLive = true
			if dump(t, db, "") != live {
				t.Error("the live tables changed during the rebuild")
			}
		}
		if seen[key] >= quarter[key] {
			return errCrash
		}
		return nil
	})
	if _, err := readmodel.Rebuild(ctx, cfg, db); !errors.Is(err, errCrash) {
		t.Fatalf("rebuild with a crashing batch: %v", err)
	}
	if dump(t, db, "") != live {
		t.Fatal("a rebuild that failed changed the live tables")
	}
	assertMatches(t, db, m)
	st, err := readmodel.Status(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.Rebuild == nil || p.Rebuild.Applied == 0 || p.Rebuild.LagEvents == 0 {
			t.Fatalf("%s: status of the unfinished rebuild: %+v", p.Name, p.Rebuild)
		}
		if p.LagEvents != 0 {
			t.Fatalf("%s: live lag %d", p.Name, p.LagEvents)
		}
	}

	// Second stop: the context is cancelled further on.
	cctx, ccancel := context.WithCancel(ctx)
	clear(seen)
	readmodel.SetHook(db, func(key string, n int) error {
		mu.Lock()
		defer mu.Unlock()
		if seen[key]++; seen[key] >= quarter[key] {
			ccancel()
		}
		return nil
	})
	if _, err := readmodel.Rebuild(cctx, cfg, db); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled rebuild: %v", err)
	}
	readmodel.SetHook(db, nil)
	if dump(t, db, "") != live {
		t.Fatal("a cancelled rebuild changed the live tables")
	}

	// Run again: it resumes, and the result is what was live.
	res, err := readmodel.Rebuild(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.Resumed || !r.Swapped {
			t.Fatalf("%s: resumed %v, swapped %v", r.Projection, r.Resumed, r.Swapped)
		}
	}
	if got := dump(t, db, ""); got != live {
		t.Fatalf("rebuilt tables differ from the live ones before:\n%s", diff(got, live))
	}
	if dump(t, db, "_next") != "== offsets\n" {
		t.Fatalf("rebuild tables left behind:\n%s", dump(t, db, "_next"))
	}
	assertMatches(t, db, m)
	st, err = readmodel.Status(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.Rebuild != nil || p.LagEvents != 0 {
			t.Fatalf("%s after the swap: lag %d, rebuild %+v", p.Name, p.LagEvents, p.Rebuild)
		}
	}

	// A rebuild that runs straight through, on an empty database, gives the
	// same tables.
	straight := openDB(t)
	res, err = readmodel.Rebuild(ctx, cfg, straight)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Resumed {
		t.Fatal("a first rebuild says it resumed")
	}
	if got := dump(t, straight, ""); got != live {
		t.Fatalf("a straight rebuild differs from the live tables:\n%s", diff(got, live))
	}

	// And rebuilding one projection again swaps only that one.
	if _, err := readmodel.Rebuild(ctx, cfg, db, readmodel.ProjectionInventory); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, db, ""); got != live {
		t.Fatalf("rebuilding the inventory changed the read models:\n%s", diff(got, live))
	}
	if _, err := readmodel.Rebuild(ctx, cfg, db, "nope"); err == nil {
		t.Fatal("rebuild of an unknown projection succeeded")
	}
}

// A rebuild swapped in while Run follows the log and events keep coming:
// when the live runner has applied records the rebuilt tables have not
// (they came after the rebuild caught up), it notices the offsets moved
// back and reads again from them, so the read models still end equal to
// the fold.
func TestRebuildWhileRunning(t *testing.T) {
	t.Parallel()
	cfg := startBroker(t)
	publishSims(t, cfg, 900, 3000)
	db := openDB(t)
	db.SetBatchSize(100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- readmodel.RunWith(ctx, cfg, db, readmodel.RunOptions{OnError: func(p string, err error) {
			t.Errorf("run %s: %v", p, err)
		}})
	}()
	bustest.Eventually(t, 2*time.Minute, func() (bool, string) { return caughtUp(t, cfg, db) })

	more := make(chan struct{})
	go func() {
		defer close(more)
		publishSims(t, cfg, 950, 3000)
	}()
	var once sync.Once
	readmodel.SetBeforeSwap(db, func(string) {
		once.Do(func() {
			// Records the rebuild has not read, applied to the live tables.
			publishSims(t, cfg, 990, 1000)
			bustest.Eventually(t, time.Minute, func() (bool, string) { return caughtUp(t, cfg, db) })
		})
	})
	rctx, rcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer rcancel()
	if _, err := readmodel.Rebuild(rctx, cfg, db); err != nil {
		t.Fatal(err)
	}
	<-more
	bustest.Eventually(t, 2*time.Minute, func() (bool, string) { return caughtUp(t, cfg, db) })
	assertMatches(t, db, fold(cfg, readBack(t, cfg)))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// diff shows the first lines where two dumps differ.
func diff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var out []string
	for i := 0; i < max(len(g), len(w)) && len(out) < 20; i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			out = append(out, "got:  "+a, "want: "+b)
		}
	}
	return strings.Join(out, "\n")
}

// Environment of TestRebuildChild, the child process of
// TestRebuildKilledHalfway.
const (
	envRebuildDB      = "READMODEL_REBUILD_DB"
	envRebuildBrokers = "READMODEL_REBUILD_BROKERS"
	envRebuildNS      = "READMODEL_REBUILD_NAMESPACE"
)

// TestRebuildChild rebuilds every projection of the database it is given
// and is SIGKILLed after envCrashAfter records.
func TestRebuildChild(t *testing.T) {
	path := os.Getenv(envRebuildDB)
	if path == "" {
		t.Skip("child process of TestRebuildKilledHalfway")
	}
	after, _ := strconv.Atoi(os.Getenv(envCrashAfter))
	cfg := bus.Config{Brokers: strings.Split(os.Getenv(envRebuildBrokers), ","), Namespace: os.Getenv(envRebuildNS)}
	db, err := readmodel.Open(context.Background(), path, readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	db.SetBatchSize(100)
	var mu sync.Mutex
	total := 0
	readmodel.SetHook(db, func(string, int) error {
		mu.Lock()
		defer mu.Unlock()
		if total++; total >= after {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		return nil
	})
	_, err = readmodel.Rebuild(context.Background(), cfg, db)
	t.Fatalf("not killed: %v", err)
}

// A rebuild process killed with SIGKILL halfway, then run again, swaps in
// tables identical to the live ones (and to the fold).
func TestRebuildKilledHalfway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Parallel()
	cfg := startBroker(t)
	publishSims(t, cfg, 1200, 4000)
	db := openDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
		t.Fatal(err)
	}
	live := dump(t, db, "")

	cmd := exec.Command(os.Args[0], "-test.run=^TestRebuildChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envRebuildDB+"="+db.Path(), envCrashAfter+"=3000",
		envRebuildBrokers+"="+strings.Join(cfg.Brokers, ","), envRebuildNS+"="+cfg.Namespace)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed: %v\n%s", err, out)
	}
	if dump(t, db, "") != live {
		t.Fatal("the killed rebuild changed the live tables")
	}
	st, err := readmodel.Status(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	partial := 0
	for _, p := range st {
		if p.Rebuild != nil {
			partial++
		}
	}
	if partial == 0 {
		t.Fatal("no unfinished rebuild after the kill")
	}
	res, err := readmodel.Rebuild(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	resumed := 0
	for _, r := range res {
		if r.Resumed {
			resumed++
		}
	}
	t.Logf("%d of %d rebuilds resumed after the kill", resumed, len(res))
	if resumed != partial {
		t.Fatalf("%d rebuilds resumed, %d were unfinished", resumed, partial)
	}
	if got := dump(t, db, ""); got != live {
		t.Fatalf("rebuilt after a kill, the tables differ from the live ones:\n%s", diff(got, live))
	}
	assertMatches(t, db, fold(cfg, readBack(t, cfg)))
}
