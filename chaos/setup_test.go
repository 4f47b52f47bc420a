//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
)

// settings are the knobs of a run, from the environment.
type settings struct {
	bookings  int
	rate      float64
	killEvery time.Duration
	tail      time.Duration
	duration  time.Duration
	settle    time.Duration
	seed      uint64
	// cluster: the brokers are a scripts/kafka.sh cluster of three nodes,
	// taken down one at a time (cluster_test.go) instead of restarted once.
	cluster bool
}

func readSettings(t *testing.T) settings {
	s := settings{bookings: 1000, rate: 25, killEvery: 3 * time.Second, tail: 10 * time.Second,
		duration: 20 * time.Minute, settle: 5 * time.Minute, seed: uint64(time.Now().UnixNano())}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q: want a positive number", name, v)
			}
			*dst = n
		}
	}
	dur := func(name string, dst *time.Duration) {
		if v := os.Getenv(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				t.Fatalf("%s=%q: want a duration such as 3s", name, v)
			}
			*dst = d
		}
	}
	num("CHAOS_BOOKINGS", &s.bookings)
	rate := int(s.rate)
	num("CHAOS_RATE", &rate)
	s.rate = float64(rate)
	dur("CHAOS_KILL_EVERY", &s.killEvery)
	dur("CHAOS_TAIL", &s.tail)
	dur("CHAOS_DURATION", &s.duration)
	dur("CHAOS_SETTLE", &s.settle)
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want a number", v)
		}
		s.seed = n
	}
	if s.cluster = os.Getenv("CHAOS_CLUSTER") == "1"; s.cluster && os.Getenv("CHAOS_RATE") == "" {
		// Slower, so the load lasts through every broker fault.
		s.rate = 5
	}
	if s.killEvery < 500*time.Millisecond {
		t.Fatalf("CHAOS_KILL_EVERY=%s: at least 500ms", s.killEvery)
	}
	return s
}

// brokerSide is the broker under test and how to restart it.
type brokerSide struct {
	name    string // "embedded" or "kafka"
	addr    string
	proc    *proc // the embedded broker's process
	restart func() error
	cluster *cluster // a cluster run's brokers
}

// startBroker connects to KAFKA_BROKERS, or starts the embedded broker as
// a process of its own on a fresh data directory.
func startBroker(t *testing.T, ctx context.Context, root, bin, runDir string, clustered bool) *brokerSide {
	t.Helper()
	env := os.Getenv("KAFKA_BROKERS")
	if clustered && env == "" {
		t.Fatal("CHAOS_CLUSTER=1 needs KAFKA_BROKERS of a scripts/kafka.sh cluster (make chaos-cluster starts one)")
	}
	if env != "" {
		b := &brokerSide{name: "kafka", addr: env}
		restartCmd := os.Getenv("CHAOS_RESTART_CMD")
		if restartCmd == "" || clustered {
			// The cluster of scripts/kafka.sh (its KAFKA_STATE, KAFKA_PORT
			// from the environment) must be the one the test talks to, or
			// the restart would hit another cluster.
			out, err := exec.Command("bash", filepath.Join(root, "scripts/kafka.sh"), "status").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "bootstrap: "+env+"\n") {
				t.Fatalf("KAFKA_BROKERS=%s is not the cluster of scripts/kafka.sh (status: %v)\n%s"+
					"set KAFKA_STATE/KAFKA_PORT to its state, or CHAOS_RESTART_CMD to a command that restarts it", env, err, out)
			}
			restartCmd = "bash " + filepath.Join(root, "scripts/kafka.sh") + " restart"
			if clustered {
				c, err := newCluster(root, runDir, string(out))
				if err != nil {
					t.Fatal(err)
				}
				b.cluster, b.name = c, fmt.Sprintf("kafka-%d-nodes", c.nodes)
			}
		}
		cfg := bus.Config{Brokers: strings.Split(env, ",")}
		b.restart = func() error {
			cmd := exec.Command("bash", "-c", restartCmd)
			f, err := os.OpenFile(filepath.Join(runDir, "broker-restart.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w (see %s)", restartCmd, err, f.Name())
			}
			return waitReady(ctx, cfg, 2*time.Minute)
		}
		if err := waitReady(ctx, cfg, 30*time.Second); err != nil {
			t.Fatalf("KAFKA_BROKERS=%s: %v", env, err)
		}
		return b
	}
	addr := freeAddr(t)
	dataDir := filepath.Join(runDir, "broker-data")
	// No SASL: the parts connect as a deployment's would to a broker of
	// its own; what they obey is settled by the records' signatures.
	p := newProc("broker", bin, runDir, "broker", "--data-dir", dataDir, "--listen", addr, "--broker-auth=false", "--log-format", "json", "--log-level", "warn")
	b := &brokerSide{name: "embedded", addr: addr, proc: p}
	cfg := bus.Config{Brokers: []string{addr}}
	b.restart = func() error {
		// kill -9: whatever it acknowledged must be on disk.
		if err := p.restart(time.Second); err != nil {
			return err
		}
		return waitReady(ctx, cfg, time.Minute)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if err := waitReady(ctx, cfg, 30*time.Second); err != nil {
		t.Fatalf("embedded broker: %v\n%s", err, p.tail(20))
	}
	return b
}

func waitReady(ctx context.Context, cfg bus.Config, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := bus.WaitReady(cctx, cfg)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(300 * time.Millisecond) // a pause between tries, as a client backs off
	}
}

// freeAddr returns a loopback address with a port nobody listens on.
