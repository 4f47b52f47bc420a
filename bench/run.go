package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sagaflow/saga/bus"
)

// Options is one `saga bench` run.
type Options struct {
	// Exe is the saga binary the system runs as.
	Exe string
	// Bus is the connection and namespace; without brokers an embedded
	// broker is started on DataDir.
	Bus     bus.Config
	DataDir string
	Spec    SagaSpec
	// Raw also runs the raw pipelines; Replay also rebuilds the read models.
	Raw, Replay bool
	// Chart is the PNG to write; none when empty.
	Chart string
	// CPUProfile, when set, is where the system writes its CPU profile.
	CPUProfile string
	// Progress, when set, is told what the run is doing.
	Progress func(string)
	// Telemetry runs the system with metrics (--metrics, scraped every
	// 15 s) and tracing (OTLP/HTTP to a receiver of the run's) on. Without
	// it both are off, whatever OTEL_EXPORTER_OTLP_ENDPOINT the bench was
	// started with, so that runs compare.
	Telemetry bool
}

// Report is everything a run measured. Its JSON form is `saga bench -o json`.
type Report struct {
	Date    string  `json:"date"`
	Machine Machine `json:"machine"`
	Broker  string  `json:"broker"`
	Rate    float64 `json:"rate"`
	Mix     Mix     `json:"mix"`
	SagaResult
	// RawRecordsPerSec is the sarama pipeline's rate, the broker's limit
	// for records of these sizes; SagaToRaw the saga records/s over it.
	RawRecordsPerSec float64       `json:"raw_records_per_sec"`
	SagaToRaw        float64       `json:"saga_to_raw_ratio"`
	Raw              []RawResult   `json:"raw,omitempty"`
	Processes        []ProcUsage   `json:"processes"`
	Replay           *ReplayResult `json:"replay,omitempty"`
	Chart            string        `json:"chart,omitempty"`
	// Telemetry is what the system exported, with Options.Telemetry.
	Telemetry *Telemetry `json:"telemetry,omitempty"`
}

// Machine is where a run ran.
type Machine struct {
	Cores       int    `json:"cores"`
	MemoryBytes int64  `json:"memory_bytes"`
	CPU         string `json:"cpu"`
	OS          string `json:"os"`
	Go          string `json:"go"`
}

// ThisMachine describes the machine from /proc.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseInt(strings.TrimSuffix(kb, " kB"), 10, 64); err == nil {
			m.MemoryBytes = n << 10
		}
	}
	return m
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Run starts the system, drives the sagas, then measures the raw pipelines
// and the replay on the same broker, and writes the chart.
func Run(ctx context.Context, o Options) (Report, error) {
	say := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	rep := Report{Date: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine(), Rate: o.Spec.Rate}
	rep.Broker = "Kafka at " + strings.Join(o.Bus.Brokers, ",")
	if len(o.Bus.Brokers) == 0 {
		rep.Broker = "embedded (kfake, own process, data on disk)"
	}
	env := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="}
	var extra []string
	var tel *telemetry
	if o.Telemetry {
		var err error
		if tel, err = startTelemetry(); err != nil {
			return rep, err
		}
		env, extra = tel.env(), tel.args()
	}
	say("starting the system (" + rep.Broker + ")")
	c, err := startCluster(ctx, o.Exe, o.Bus, o.DataDir, o.CPUProfile, SystemParts, env, extra...)
	if err != nil {
		return rep, err
	}
	defer c.Stop()
	if tel != nil {
		tel.scrape(ctx)
	}
	var before map[string]Usage
	spec := o.Spec
	spec.setDefaults()
	rep.Mix = spec.Mix
	spec.BeforeRun = func() {
		say(fmt.Sprintf("running %d sagas", spec.Sagas))
		before = c.usage()
	}
	say(fmt.Sprintf("warming up with %d sagas", spec.Warmup))
	res, err := RunSagas(ctx, c.Bus, spec)
	if err != nil {
		if alive := c.Alive(); alive != nil {
			err = fmt.Errorf("%w; %w", err, alive)
		}
		return rep, err
	}
	rep.SagaResult = res
	rep.Processes = usageBetween(before, c.usage(), res.Sagas, time.Duration(res.Seconds*float64(time.Second)))
	// The system stops before the raw runs so they have the machine to
	// themselves, as the sagas had.
	c.System.Stop(10 * time.Second)
	if tel != nil {
		t := tel.close(ctx)
		rep.Telemetry = &t
	}
	if o.Raw {
		if err := rep.raw(ctx, c.Bus, say); err != nil {
			return rep, err
		}
	}
	if o.Replay {
		say("rebuilding the read models from the run's logs")
		r, err := Replay(ctx, c.Bus, o.DataDir)
		if err != nil {
			return rep, err
		}
		rep.Replay = &r
	}
	if o.Chart != "" && len(res.Samples) > 0 {
		title := fmt.Sprintf("%d book-ticket sagas, %s, %s", res.Sagas, rateName(o.Spec.Rate), rep.Broker)
		if err := WriteChart(o.Chart, title, res.Samples); err != nil {
			return rep, err
		}
		rep.Chart = o.Chart
	}
	return rep, nil
}

func rateName(r float64) string {
	if r == 0 {
		return "as fast as possible"
	}
	return fmt.Sprintf("%g/s offered", r)
}

// raw moves as many records of the run's sizes through the same broker,
// with sarama and with watermill.
func (rep *Report) raw(ctx context.Context, cfg bus.Config, say func(string)) error {
	n := int(rep.Records)
	say(fmt.Sprintf("raw pipeline: %d records through sarama", n))
	s, err := RawSarama(ctx, cfg, cfg.Topic(fmt.Sprintf("bench.raw-sarama-%d", time.Now().UnixNano())), rep.RecordSizes, n)
	if err != nil {
		return fmt.Errorf("raw sarama: %w", err)
	}
	say(fmt.Sprintf("raw pipeline: %d records through watermill", n))
	w, err := RawWatermill(ctx, cfg, cfg.Topic(fmt.Sprintf("bench.raw-watermill-%d", time.Now().UnixNano())), rep.RecordSizes, n)
	if err != nil {
		return fmt.Errorf("raw watermill: %w", err)
	}
	rep.Raw = []RawResult{s, w}
	rep.RawRecordsPerSec = s.RecordsPerSec
	rep.SagaToRaw = rep.RecordsPerSec / s.RecordsPerSec
	return nil
}
