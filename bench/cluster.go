package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/system"
)

// Cluster is the system under test: the saga parts in one child process,
// on a broker of the caller's or on an embedded broker in a child process
// of its own, so each one's CPU and memory are measured apart.
type Cluster struct {
	Bus    bus.Config
	Broker *Proc // nil on the caller's brokers
	System *Proc
}

// SystemParts are the parts a saga needs; the projections are measured
// apart (replay), so they do not share the system's CPU during the run.
const SystemParts = "orchestrator,user,booking,payment,notification"

// StartCluster starts the system with exe (the saga binary) in cfg's
// namespace. Without brokers in cfg it first starts `saga broker` on
// dataDir, listening on a free loopback port.
func StartCluster(ctx context.Context, exe string, cfg bus.Config, dataDir, cpuProfile string) (*Cluster, error) {
	return startCluster(ctx, exe, cfg, dataDir, cpuProfile, SystemParts, nil)
}

// startCluster is StartCluster with the system's parts, more environment
// and any further arguments of its `saga up`.
func startCluster(ctx context.Context, exe string, cfg bus.Config, dataDir, cpuProfile, parts string, moreEnv []string, extra ...string) (*Cluster, error) {
	c := &Cluster{Bus: cfg}
	env := append(procEnv(cfg), moreEnv...)
	if len(cfg.Brokers) == 0 {
		if err := c.startBroker(ctx, exe, dataDir, env); err != nil {
			return nil, err
		}
	}
	if err := bus.WaitReady(ctx, c.Bus); err != nil {
		c.Stop()
		return nil, err
	}
	// The topics exist before the system starts, so the run's offsets are
	// read from every one whatever build the system is.
	if err := system.Provision(ctx, c.Bus); err != nil {
		c.Stop()
		return nil, err
	}
	args := []string{"up", "--brokers", strings.Join(c.Bus.Brokers, ","),
		"--parts", parts, "--log-level", "warn", "--log-format", "json", "--partitions", partitions(cfg)}
	args = append(args, extra...)
	if cpuProfile != "" {
		args = append(args, "--cpuprofile", cpuProfile)
	}
	sys, err := StartProc("system", exe, args, env)
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.System = sys
	return c, nil
}

func (c *Cluster) startBroker(ctx context.Context, exe, dataDir string, env []string) error {
	b, brokers, err := StartBroker(ctx, exe, c.Bus, dataDir, env)
	if err != nil {
		return err
	}
	c.Broker, c.Bus.Brokers = b, brokers
	return nil
}

// StartBroker starts `saga broker` (exe) on dataDir, listening on a free
// loopback port, and returns it with its address.
func StartBroker(ctx context.Context, exe string, cfg bus.Config, dataDir string, env []string) (*Proc, []string, error) {
	addrFile := filepath.Join(dataDir, "broker.addr")
	_ = os.Remove(addrFile)
	b, err := StartProc("broker", exe, []string{"broker", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--broker-auth=false",
		"--log-level", "info", "--log-format", "json", "--partitions", partitions(cfg)}, env)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := b.WaitOutput(wctx, "embedded Kafka broker running"); err != nil {
		b.Stop(10 * time.Second)
		return nil, nil, err
	}
	raw, err := os.ReadFile(addrFile)
	if err != nil {
		b.Stop(10 * time.Second)
		return nil, nil, fmt.Errorf("embedded broker address: %w", err)
	}
	return b, strings.Split(strings.TrimSpace(string(raw)), ","), nil
}

// partitions is the partition count of the topics the run creates.
func partitions(cfg bus.Config) string {
	if cfg.Partitions == 0 {
		return strconv.Itoa(int(bus.DefaultPartitions))
	}
	return strconv.Itoa(int(cfg.Partitions))
}

// Alive fails when a child has exited.
func (c *Cluster) Alive() error {
	for _, p := range c.procs() {
		if done, err := p.Exited(); done {
			return fmt.Errorf("%s exited (%v):\n%s", p.Name, err, p.Output())
		}
	}
	return nil
}

func (c *Cluster) procs() []*Proc {
	var out []*Proc
	for _, p := range []*Proc{c.System, c.Broker} {
		if p != nil {
			out = append(out, p)
		}
	}
	return out
}

// Stop ends the system, then the broker.
func (c *Cluster) Stop() {
	for _, p := range c.procs() {
		p.Stop(10 * time.Second)
	}
}

// ProcUsage is what one process cost during the measured run.
type ProcUsage struct {
	Name       string  `json:"name"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPerSaga is CPU time per saga, in milliseconds.
	CPUPerSaga float64 `json:"cpu_ms_per_saga"`
	// CPUCores is CPU time over wall time: how many cores it kept busy.
	CPUCores float64 `json:"cpu_cores"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
}

// usage reads every process's counters; the load generator is this process.
func (c *Cluster) usage() map[string]Usage {
	out := map[string]Usage{}
	for _, p := range c.procs() {
		if u, err := p.Usage(); err == nil {
			out[p.Name] = u
		}
	}
	if u, err := SelfUsage(); err == nil {
		out["bench (load and measure)"] = u
	}
	return out
}

func usageBetween(before, after map[string]Usage, sagas int, wall time.Duration) []ProcUsage {
	var out []ProcUsage
	for _, name := range []string{"system", "broker", "bench (load and measure)"} {
		a, ok := after[name]
		if !ok {
			continue
		}
		cpu := (a.CPU - before[name].CPU).Seconds()
		out = append(out, ProcUsage{Name: name, CPUSeconds: cpu, CPUPerSaga: cpu * 1000 / float64(sagas),
			CPUCores: cpu / wall.Seconds(), PeakRSS: a.PeakRSS})
	}
	return out
}
