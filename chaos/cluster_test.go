//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// A cluster run (CHAOS_CLUSTER=1, `make chaos-cluster`) talks to a
// scripts/kafka.sh cluster of three nodes and, instead of one restart of
// the broker, takes its brokers down one at a time while the load runs:
// a SIGKILL of a broker that is not the active controller, a SIGKILL of
// the active controller, and a SIGSTOP of a broker for longer than the
// consumer groups' session timeout. Parts are SIGKILLed between them, but
// never just before or during one, so the stall each fault causes is its
// own.
const (
	// faultQuiet: no part is killed for this long before a broker fault,
	// so a part's own eviction (session timeout 10 s) is over by then.
	faultQuiet = 12 * time.Second
	// brokerDown: how long a killed broker stays down.
	brokerDown = 5 * time.Second
	// brokerFrozen: how long a broker stays SIGSTOPped; longer than the
	// consumer session timeout and the broker's own (9 s in KRaft).
	brokerFrozen = 15 * time.Second
	// faultWindow: how long after a broker is back the stall is measured,
	// before parts are killed again.
	faultWindow = 15 * time.Second
)

// Kinds of broker fault, in the order a run takes them.
var faultKinds = []string{"kill-broker", "kill-controller", "stop-broker"}

// cluster is the scripts/kafka.sh cluster under test.
type cluster struct {
	script string // path of scripts/kafka.sh; KAFKA_STATE etc. from the environment
	nodes  int
	log    string
}

func newCluster(root, runDir, statusOut string) (*cluster, error) {
	n := strings.Count(statusOut, ": running ")
	if n < 3 {
		return nil, fmt.Errorf("CHAOS_CLUSTER needs a scripts/kafka.sh cluster of 3 nodes or more, this one has %d running", n)
	}
	return &cluster{script: filepath.Join(root, "scripts/kafka.sh"), nodes: n, log: filepath.Join(runDir, "broker-faults.log")}, nil
}

func (c *cluster) run(args ...string) (string, error) {
	cmd := exec.Command("bash", append([]string{c.script}, args...)...)
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(c.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "%s kafka.sh %s: %v\n%s", time.Now().Format("15:04:05.000"), strings.Join(args, " "), err, out)
		_ = f.Close()
	}
	if err != nil {
		return "", fmt.Errorf("kafka.sh %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// leader is the node id of the active controller.
func (c *cluster) leader() (int, error) {
	out, err := c.run("leader")
	if err != nil {
		return 0, err
	}
	lines := strings.Split(out, "\n")
	return strconv.Atoi(strings.TrimSpace(lines[len(lines)-1]))
}

// fault is one broker fault of a run.
type fault struct {
	Kind       string
	Node       int
	At, Back   time.Time // when the fault began; when the broker served again
	Stall      time.Duration
	StallTopic string
}

// inject takes one broker down the way kind says and brings it back.
func (c *cluster) inject(kind string, rng *rand.Rand) (fault, error) {
	f := fault{Kind: kind}
	ctl, err := c.leader()
	if err != nil {
		return f, err
	}
	switch kind {
	case "kill-controller":
		f.Node = ctl
	default:
		// Any node but the controller, so each fault is the one named.
		others := []int{}
		for i := 1; i <= c.nodes; i++ {
			if i != ctl {
				others = append(others, i)
			}
		}
		f.Node = others[rng.IntN(len(others))]
	}
	node := strconv.Itoa(f.Node)
	f.At = time.Now()
	if kind == "stop-broker" {
		if _, err := c.run("signal", node, "STOP"); err != nil {
			return f, err
		}
		time.Sleep(brokerFrozen)
		_, err = c.run("signal", node, "CONT")
	} else {
		if _, err := c.run("signal", node, "KILL"); err != nil {
			return f, err
		}
		time.Sleep(brokerDown)
		_, err = c.run("start", node)
	}
	f.Back = time.Now()
	return f, err
}

// clusterChaos is the fault loop of a cluster run: parts SIGKILLed every
// killEvery, and the broker faults in turn, each in a quiet window, until
// ctx ends; each kind of fault happens at least once before the loop
// stops, even after the load is over (the load's tail goes on meanwhile).
func clusterChaos(ctx context.Context, c *cluster, procs []*proc, rng *rand.Rand, killEvery time.Duration, logf func(string, ...any)) ([]fault, error) {
	var faults []fault
	next := time.Now().Add(faultQuiet + 10*time.Second)
	lastKill := time.Time{}
	for {
		if ctx.Err() != nil && len(faults) >= len(faultKinds) {
			return faults, nil
		}
		now := time.Now()
		if !now.Before(next) && now.Sub(lastKill) >= faultQuiet {
			kind := faultKinds[len(faults)%len(faultKinds)]
			f, err := c.inject(kind, rng)
			faults = append(faults, f)
			logf("chaos: %s node %d at %s, back after %s (err %v)", f.Kind, f.Node, f.At.Format("15:04:05.000"), f.Back.Sub(f.At).Round(time.Millisecond), err)
			if err != nil {
				return faults, err
			}
			time.Sleep(faultWindow)
			next = time.Now().Add(faultQuiet + 2*killEvery)
			continue
		}
		wait := killEvery + time.Duration(rng.Int64N(int64(killEvery))) - killEvery/2
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			if len(faults) >= len(faultKinds) {
				return faults, nil
			}
			time.Sleep(time.Second)
			continue
		}
		if time.Until(next) < faultQuiet {
			continue // quiet before the next broker fault
		}
		p := procs[rng.IntN(len(procs))]
		pause := 500*time.Millisecond + time.Duration(rng.Int64N(int64(500*time.Millisecond)))
		if err := p.restart(pause); err != nil {
			return faults, err
		}
		lastKill = time.Now()
	}
}

// measureStalls sets each fault's stall: how much longer than usual the
// sagas in flight while the broker was down took to end. "Usual" is the median time
// of the sagas of the same kind of booking that started and ended with no
// fault under way; kinds that wait on purpose (a payment that never
// answers, refunds that fail until an operator retries) are left out. A
// fault whose window ends after loadEnd is not measured: no saga is in
// flight then.
func measureStalls(ctx context.Context, cfg bus.Config, faults []fault, loadEnd time.Time, kindOf func(sagaID string) string) error {
	type span struct{ start, end time.Time }
	spans := map[string]*span{}
	var mu sync.Mutex
	err := bus.ReadAll(ctx, cfg, cfg.Topic(events.TopicSagaLog), func(rec bus.Record) error {
		e, err := events.FromHeaders("", rec.Headers, rec.Value)
		if err != nil {
			return nil //nolint:nilerr // the checker counts unreadable records
		}
		mu.Lock()
		defer mu.Unlock()
		sp := spans[e.SagaID]
		if sp == nil {
			sp = &span{}
			spans[e.SagaID] = sp
		}
		switch e.Type {
		case events.SagaStarted:
			sp.start = e.OccurredAt
		case events.SagaCompleted, events.SagaCompensated, events.SagaFailed:
			sp.end = e.OccurredAt
		}
		return nil
	})
	if err != nil {
		return err
	}
	waits := map[string]bool{kindTimeout: true, kindRefundFails: true, "cancel": true}
	during := func(sp *span) bool {
		for _, f := range faults {
			if sp.start.Before(f.Back.Add(faultWindow)) && sp.end.After(f.At) {
				return true
			}
		}
		return false
	}
	usual := map[string][]time.Duration{}
	for id, sp := range spans {
		if k := kindOf(id); !sp.start.IsZero() && !sp.end.IsZero() && !waits[k] && !during(sp) {
			usual[k] = append(usual[k], sp.end.Sub(sp.start))
		}
	}
	median := map[string]time.Duration{}
	for k, ds := range usual {
		slices.Sort(ds)
		median[k] = ds[len(ds)/2]
	}
	for i := range faults {
		f := &faults[i]
		if f.Back.Add(faultWindow).After(loadEnd) {
			f.StallTopic = "not measured: after the load"
			continue
		}
		for id, sp := range spans {
			k := kindOf(id)
			if waits[k] || sp.start.IsZero() || sp.end.IsZero() || !sp.start.Before(f.Back) || !sp.end.After(f.At) {
				continue
			}
			if extra := sp.end.Sub(sp.start) - median[k]; extra > f.Stall {
				f.Stall, f.StallTopic = extra, fmt.Sprintf("saga %s, %s, usually %s", id[:8], k, median[k].Round(time.Millisecond))
			}
		}
		if f.StallTopic == "" {
			f.StallTopic = "no saga in flight"
		}
	}
	return nil
}

// faultTable is the per-fault report of a cluster run.
func faultTable(faults []fault) string {
	var b strings.Builder
	fmt.Fprintf(&b, "broker faults:       %d\n", len(faults))
	for _, f := range faults {
		fmt.Fprintf(&b, "  %-16s node %d  at %s  down %6s  stall %6s (%s)\n", f.Kind, f.Node, f.At.Format("15:04:05.000"),
			f.Back.Sub(f.At).Round(100*time.Millisecond), f.Stall.Round(100*time.Millisecond), f.StallTopic)
	}
	return b.String()
}
