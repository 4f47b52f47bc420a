//go:build chaos

package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/client"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/sign"
)

// TestChaos is the chaos test: see the package documentation.
func TestChaos(t *testing.T) {
	s := readSettings(t)
	began := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ns := "chaos" + randomHex(4)
	runDir := makeRunDir(t, ns)
	bin := filepath.Join(runDir, "saga")
	build := exec.Command("go", "build", "-o", bin, "./cmd/saga")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/saga: %v\n%s", err, out)
	}

	broker := startBroker(t, ctx, root, bin, runDir, s.cluster)
	// Every part signs with its own key; all of them, and the load, share
	// one key directory.
	keyDir := filepath.Join(runDir, "keys")
	keys, ring, err := sign.EnsureDir(keyDir, events.Principals(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg := bus.Config{Brokers: strings.Split(broker.addr, ","), Namespace: ns, Trust: ring, Signer: keys[events.PrincipalClient]}
	t.Logf("chaos: %s broker at %s, namespace %s, seed %d, logs in %s", broker.name, broker.addr, ns, s.seed, runDir)

	// The system: every part its own process; two orchestrators and two
	// booking services share their partitions.
	common := []string{"--brokers", broker.addr, "--namespace", ns, "--keys", keyDir, "--log-format", "json", "--log-level", "warn"}
	var procs []*proc
	parts := []struct{ name, part string }{
		{"orchestrator-1", "orchestrator"}, {"orchestrator-2", "orchestrator"}, {"user", "user"},
		{"booking-1", "booking"}, {"booking-2", "booking"}, {"payment", "payment"}, {"notification", "notification"},
	}
	if s.cluster { // every part twice
		parts = append(parts, []struct{ name, part string }{{"user-2", "user"}, {"payment-2", "payment"}, {"notification-2", "notification"}}...)
	}
	for _, p := range parts {
		args := append([]string{"up", "--parts", p.part, "--step-timeout", "2s"}, common...)
		pr := newProc(p.name, bin, runDir, args...)
		pr.part = p.part
		procs = append(procs, pr)
	}
	all := append(append([]*proc(nil), procs...), broker.proc)
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
		if broker.proc != nil {
			broker.proc.stop()
		}
	})
	// Why the run failed is said again after the processes' last lines,
	// so that it ends the output a CI log keeps.
	var why []string
	errorf := func(format string, args ...any) {
		t.Helper()
		why = append(why, fmt.Sprintf(format, args...))
		t.Errorf(format, args...)
	}
	fatalf := func(format string, args ...any) {
		t.Helper()
		why = append(why, fmt.Sprintf(format, args...))
		t.Fatalf(format, args...)
	}
	defer func() {
		if t.Failed() {
			for _, p := range all {
				if p != nil {
					t.Logf("--- last lines of %s (%s) ---\n%s", p.name, p.log, p.tail(25))
				}
			}
			t.Logf("chaos: FAILED: %s", strings.Join(why, "; "))
		}
	}()
	for _, p := range procs {
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}

	// Load and chaos. The broker is restarted once, when half of the
	// bookings are posted; a random part is SIGKILLed every killEvery.
	rng := newRand(s.seed, "chaos")
	l := newLoad(cfg, newRand(s.seed, "load"))
	half := make(chan struct{})
	chaosCtx, stopChaos := context.WithCancel(ctx)
	var chaosWG sync.WaitGroup
	var brokerRestarts int
	var brokerDown time.Duration
	var chaosErr error
	var faults []fault
	chaosWG.Add(1)
	go func() {
		defer chaosWG.Done()
		if broker.cluster != nil {
			faults, chaosErr = clusterChaos(chaosCtx, broker.cluster, procs, rng, s.killEvery, t.Logf)
			brokerRestarts = len(faults)
			return
		}
		halfC := (<-chan struct{})(half)
		for {
			jitter := time.Duration(rng.Int64N(int64(s.killEvery))) - s.killEvery/2
			select {
			case <-chaosCtx.Done():
				return
			case <-halfC:
				halfC = nil
				t0 := time.Now()
				err := broker.restart()
				brokerRestarts++
				brokerDown = time.Since(t0)
				if err != nil {
					chaosErr = err
				}
				t.Logf("chaos: broker restarted in %s (err %v)", brokerDown.Round(time.Millisecond), err)
				continue
			case <-time.After(s.killEvery + jitter):
			}
			p := procs[rng.IntN(len(procs))]
			pause := 500*time.Millisecond + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
			if err := p.restart(pause); err != nil {
				chaosErr = errors.Join(chaosErr, err)
			}
		}
	}()

	phaseCtx, endPhase := context.WithTimeout(ctx, s.duration)
	defer endPhase()
	posting := time.Now()
	loadErr := l.run(phaseCtx, s.bookings, s.rate, half)
	postTime := time.Since(posting)
	loadEnd := time.Now()
	if loadErr == nil && phaseCtx.Err() == nil {
		select {
		case <-phaseCtx.Done():
		case <-time.After(s.tail):
		}
	}
	stopChaos()
	chaosWG.Wait()
	l.close()
	chaosTime := time.Since(posting)
	if loadErr != nil {
		fatalf("load: %v", loadErr)
	}
	if chaosErr != nil {
		fatalf("chaos: %v", chaosErr)
	}
	bookings, cancelled := l.snapshot()
	if phaseCtx.Err() != nil {
		t.Logf("chaos: CHAOS_DURATION %s reached after %d of %d bookings", s.duration, len(bookings), s.bookings)
	}
	if broker.cluster == nil && brokerRestarts != 1 {
		errorf("chaos: broker restarted %d times, want 1", brokerRestarts)
	}
	t.Logf("chaos: posted %d bookings, %d requests in %s; chaos over after %s", len(bookings), l.posts.Load(), postTime.Round(time.Millisecond), chaosTime.Round(time.Millisecond))

	// Every part runs again; every saga must end.
	cl, err := client.New(ctx, cfg, client.WithCatalog(demo.Catalog()))
	if err != nil {
		fatalf("client: %v", err)
	}
	defer cl.Close()
	// A saga that does not end is a failure, but the run goes on without
	// it, so that the report says what else happened.
	settleStart := time.Now()
	stuck := map[string]bool{}
	timedOut := false
	settled := func(noneFailed bool) *projections.Sagas {
		sagas, open, err := waitSettled(t, ctx, cl, bookings, cancelled, s.settle, noneFailed, stuck, timedOut)
		if err != nil {
			timedOut = true
			t.Error(err)
			diagnose(t, cfg, bin, procs, open)
			if sagas == nil {
				t.FailNow()
			}
			for _, id := range open {
				stuck[id] = true
			}
		}
		return sagas
	}
	sagas := settled(false)
	retried := 0
	for _, v := range sagas.List("failed") {
		retried++
		if _, err := cl.Retry(ctx, v.SagaID, "chaos", "refund processor fixed"); err != nil {
			fatalf("retry %s: %v", v.SagaID, err)
		}
	}
	if retried > 0 {
		sagas = settled(true)
	}
	settleTime := time.Since(settleStart)

	rec, err := cl.Reconcile(ctx, time.Time{})
	if err != nil {
		fatalf("reconcile: %v", err)
	}
	inv, err := cl.Inventory(ctx)
	if err != nil {
		fatalf("inventory: %v", err)
	}
	raw, err := readRawLogs(ctx, cfg)
	if err != nil {
		fatalf("read the logs: %v", err)
	}
	o := check(bookings, cancelled, sagas, inv, raw, rec)
	for _, f := range rec.Findings {
		o.problem(f.SagaID, "reconcile: %s %s %s: %s", f.Kind, f.BookingRef, f.SagaID, f.Detail)
	}
	if len(rec.Unreadable) > 0 {
		o.problem("", "reconcile: unreadable records %v", rec.Unreadable)
	}
	// The read models of the run, projected from the logs, come out the
	// same, row for row, when rebuilt from offset zero.
	if rows, err := checkRebuild(ctx, cfg, t.TempDir()); err != nil {
		o.problem("", "read model: %v", err)
	} else {
		t.Logf("chaos: read model rebuilt row for row identical (%d rows)", rows)
		fmt.Printf("chaos: read model rebuilt row for row identical (%d rows)\n", rows)
	}
	retriedKinds := map[string]int{}
	for _, v := range sagas.List("") {
		for _, e := range v.Events {
			if e.Type == string(events.SagaResumed) {
				retriedKinds[kindOf(bookings, v.SagaID)]++
				break
			}
		}
	}

	// Unexpected exits: no process may die on its own, not even while the
	// broker restarts (the supervisor started it again; it is still a bug).
	var exits []string
	for _, p := range all {
		if p == nil {
			continue
		}
		_, _, ex := p.counts()
		for _, e := range ex {
			exits = append(exits, fmt.Sprintf("%s run %d at %s: %s", p.name, e.Run, e.At.Format("15:04:05.000"), e.Status))
		}
	}

	report := summary(s, broker, ns, l, bookings, cancelled, o, rec, procs, brokerRestarts, brokerDown, retried, retriedKinds,
		exits, postTime, chaosTime, settleTime, time.Since(began))
	if broker.cluster != nil {
		if err := measureStalls(ctx, cfg, faults, loadEnd, func(id string) string { return kindOf(bookings, id) }); err != nil {
			errorf("stalls: %v", err)
		}
		table := faultTable(faults)
		fmt.Print(table)
		if n := l.failedPosts.Load(); n > 0 {
			l.failuresMu.Lock()
			first := strings.Join(l.failures, "; ")
			l.failuresMu.Unlock()
			// CHAOS_CLIENT_FAILURES=report (CI's short form) prints them
			// without failing the run.
			report := fmt.Sprintf("chaos: %d posts failed at the client and were posted again, where a client must ride out a broker's loss: %s", n, first)
			if os.Getenv("CHAOS_CLIENT_FAILURES") == "report" {
				t.Log(report)
				fmt.Println(report)
			} else {
				errorf("%s", report)
			}
		}
	}
	fmt.Print(report)
	t.Log(strings.TrimSpace(report[strings.LastIndex(strings.TrimSuffix(report, "\n"), "\n")+1:]))

	for _, e := range exits {
		errorf("a process exited without being killed: %s", e)
	}
	const maxProblems = 40
	for i, p := range o.Problems {
		if i == maxProblems {
			errorf("... and %d more problems", len(o.Problems)-maxProblems)
			break
		}
		errorf("%s", p)
	}
	if len(o.Problems) > 0 {
		for _, id := range o.ProblemSagas {
			if stuck[id] {
				continue // inspected above
			}
			t.Logf("--- saga inspect %s ---\n%s", id, runCLI(bin, cfg, "inspect", id))
		}
	}
}

// diagnose logs what helps to tell why sagas did not end: a few of them as
// `saga inspect` shows them, and the members of every consumer group
// against the processes that run each part (a member more than there are
// processes holds partitions nobody consumes).
func diagnose(t *testing.T, cfg bus.Config, bin string, procs []*proc, open []string) {
	t.Helper()
	for i, id := range open {
		if i == 3 {
			t.Logf("... and %d more sagas not ended", len(open)-3)
			break
		}
		t.Logf("--- saga inspect %s ---\n%s", id, runCLI(bin, cfg, "inspect", id))
	}
	want := map[string]int{}
	for _, p := range procs {
		want[p.part]++
	}
	conf, err := bus.SaramaConfig(cfg)
	if err != nil {
		t.Logf("consumer groups: %v", err)
		return
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		t.Logf("consumer groups: %v", err)
		return
	}
	defer admin.Close()
	var names []string
	for part := range want {
		names = append(names, cfg.Group(part))
	}
	sort.Strings(names)
	ds, err := admin.DescribeConsumerGroups(names)
	if err != nil {
		t.Logf("consumer groups: %v", err)
		return
	}
	for _, d := range ds {
		part := strings.TrimPrefix(d.GroupId, cfg.Namespace+".")
		var members []string
		for id, m := range d.Members {
			assigned := ""
			if a, err := m.GetMemberAssignment(); err == nil && a != nil {
				for topic, ps := range a.Topics {
					assigned += fmt.Sprintf(" %s%v", strings.TrimPrefix(topic, cfg.Namespace+"."), ps)
				}
			}
			members = append(members, fmt.Sprintf("%s@%s:%s", id, m.ClientHost, assigned))
		}
		sort.Strings(members)
		note := ""
		if len(d.Members) > want[part] {
			note = fmt.Sprintf(" <- %d members for %d processes: a dead member holds partitions", len(d.Members), want[part])
		}
		t.Logf("consumer group %s (%s): %d members%s\n  %s", d.GroupId, d.State, len(d.Members), note, strings.Join(members, "\n  "))
	}
}

// kindOf returns the kind of the booking of a saga id ("cancel" for a
// cancellation).
func kindOf(bookings []*booking, sagaID string) string {
	for _, b := range bookings {
		if b.SagaID == sagaID {
			return b.Kind
		}
	}
	return "cancel"
}

// waitSettled polls the saga log until every posted request has a saga and
// every saga but those ignored has ended (and, after the retries, none is
// failed). On time-out it returns the sagas not ended with the error.
func waitSettled(t *testing.T, ctx context.Context, cl *client.Client, bookings []*booking, cancelled map[string]bool,
	timeout time.Duration, noneFailed bool, ignore map[string]bool, ignoreMissing bool) (*projections.Sagas, []string, error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		sagas, err := cl.Sagas(ctx)
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			missing := 0
			var open []string
			var example string
			for _, b := range bookings {
				if _, ok := sagas.Find(b.SagaID); !ok {
					missing++
					example = b.SagaID
				}
			}
			for ref := range cancelled {
				if _, ok := sagas.Find(events.SagaIDFor("cancel:" + ref)); !ok {
					missing++
				}
			}
			counts := map[string]int{}
			for _, v := range sagas.List("") {
				counts[v.Status]++
				terminal := v.Status == "completed" || v.Status == "compensated" || v.Status == "failed"
				if (!terminal || (noneFailed && v.Status == "failed")) && !ignore[v.SagaID] {
					open = append(open, v.SagaID)
					if example == "" {
						example = v.SagaID
					}
				}
			}
			if (missing == 0 || ignoreMissing) && len(open) == 0 {
				return sagas, nil, nil
			}
			why = fmt.Sprintf("%d posted requests without a saga, %d sagas not ended (e.g. %s); sagas by status %v", missing, len(open), example, counts)
			if time.Now().After(deadline) {
				return sagas, open, fmt.Errorf("sagas not settled within %s: %s", timeout, why)
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("sagas not settled within %s: %s", timeout, why)
		}
		if time.Since(lastLog) > 15*time.Second {
			t.Logf("chaos: waiting: %s", why)
			lastLog = time.Now()
		}
		time.Sleep(2 * time.Second) // each check reads every log: paced, not a busy loop
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// makeRunDir makes the directory of the binary, the logs and the embedded
// broker's data; it is removed when the test passes (unless CHAOS_KEEP=1)
// and kept for inspection when it fails.
func makeRunDir(t *testing.T, ns string) string {
	t.Helper()
	base := os.Getenv("CHAOS_LOG_DIR")
	if base == "" {
		base = os.TempDir()
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "saga-"+ns+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CHAOS_KEEP") == "1" {
			t.Logf("chaos: logs and data kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runCLI runs the saga binary against the run's cluster, for evidence.
func runCLI(bin string, cfg bus.Config, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args = append(args, "--brokers", strings.Join(cfg.Brokers, ","), "--namespace", cfg.Namespace)
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("%s\n(%v)", out, err)
	}
	return string(out)
}
