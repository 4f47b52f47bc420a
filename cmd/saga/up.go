package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/orchestrator/saga"
	"github.com/sagaflow/saga/system"
)

func newUp(g *globals) *cobra.Command {
	var listen, parts, cpuProfile string
	brokerAuth := true
	var topics topicFlags
	var web httpFlags
	var metered metricsFlag
	timings := flows.DefaultTimings()
	var sloFlags []string
	horizon := saga.DefaultCompensationHorizon
	var oneRound bool
	cmd := &cobra.Command{
		Use: "up",
		Example: `  saga up
  saga up --data-dir /var/lib/saga --listen 127.0.0.1:9192
  saga up --brokers kafka-1:9092,kafka-2:9092 --parts orchestrator`,
		Short: "Run the orchestrator and the participant services (on the embedded broker unless brokers are given)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, log := cmd.Context(), g.logger()
			if err := errors.Join(web.validate(), metered.validate()); err != nil {
				return err
			}
			slos, err := parseSLOs(sloFlags, timings)
			if err != nil {
				return err
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			tracer, stopTracing, err := startTracing(ctx, log)
			if err != nil {
				return err
			}
			defer stopTracing()
			web.tracer = tracer
			cfg := topics.apply(g.connection())
			if len(cfg.Brokers) == 0 {
				emb, err := g.startEmbedded(listen, brokerAuth)
				if err != nil {
					return err
				}
				defer emb.Close()
				cfg.Brokers = emb.Addrs()
				if brokerAuth {
					if cfg.SASL, err = g.embeddedParts(); err != nil {
						return err
					}
				}
				log.Info().Str("data_dir", g.dataDir).Strs("brokers", cfg.Brokers).Bool("broker_auth", brokerAuth).Msg("embedded Kafka broker started")
			}
			if err := bus.WaitReady(ctx, cfg); err != nil {
				return err
			}
			keys, ring, err := g.signing()
			if err != nil {
				return err
			}
			cfg.Trust = ring
			var names []string
			if parts != "" {
				names = strings.Split(parts, ",")
			}
			// The HTTP API is a part too: with --parts it runs only when
			// listed, so processes sharing a machine do not contend for
			// its port.
			onlyAPI := len(names) > 0
			names, web.addr = apiPart(names, web.addr)
			onlyAPI = onlyAPI && len(names) == 0
			cfg.Metrics = metricsOn(web.addr, metered)
			stopMetrics, err := metered.serve(ctx, cfg.Metrics, log)
			if err != nil {
				return err
			}
			defer stopMetrics()
			log.Info().Strs("brokers", cfg.Brokers).Msg("saga system starting")
			err = runWithAPI(ctx, g, web, withKeys(cfg, keys, ring, events.PrincipalClient), log, func(ctx context.Context) error {
				if onlyAPI {
					<-ctx.Done()
					return nil
				}
				return system.Run(ctx, system.Config{Bus: cfg, Log: log, Parts: names, Timings: timings, SLOs: slos,
					SeedShows: seeds(names), ReadModel: readModel(g, names), Keys: keys, PartBus: g.partBus, Tracer: tracer,
					CompensationHorizon: horizonOrOff(horizon), Topics: topics.options(), OneRoundReplies: oneRound})
			})
			if ctx.Err() != nil {
				log.Info().Msg("saga system stopped")
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&listen, "listen", DefaultListen, "address of the embedded broker")
	cmd.Flags().BoolVar(&brokerAuth, "broker-auth", true, brokerAuthUsage)
	topics.register(cmd)
	cmd.Flags().DurationVar(&timings.StepTimeout, "step-timeout", timings.StepTimeout, "deadline of one attempt of a saga step")
	cmd.Flags().DurationVar(&horizon, "compensation-horizon", horizon, "how long a compensation that gets no reply is retried, "+
		"from its first attempt, before its saga is parked as failed (0: only the definition's attempts)")
	cmd.Flags().BoolVar(&oneRound, "one-round-replies", false, "the services write a command's domain event and its reply in one produce round "+
		"(a durable write less per step; a saga's end may then be seen before the service's event of it)")
	cmd.Flags().StringArrayVar(&sloFlags, "slo", nil, "the stuck-saga watchdog's SLO of a definition or one of its steps, `NAME[.STEP]=DURATION` "+
		"(repeatable; by default twice the timeouts and backoffs of every attempt)")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile of this process to `FILE` when it stops (read it with go tool pprof)")
	web.register(cmd)
	metered.register(cmd)
	cmd.Flags().StringVar(&parts, "parts", "", "run only these parts, comma separated: orchestrator,user,booking,payment,notification,projections,api")
	return cmd
}

func newBroker(g *globals) *cobra.Command {
	var listen string
	brokerAuth := true
	var topics topicFlags
	cmd := &cobra.Command{
		Use:     "broker",
		Example: `  saga broker --data-dir ./.saga --listen 127.0.0.1:9192`,
		Short:   "Run only the embedded Kafka-protocol broker, for separate processes and Kafka tools",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			emb, err := g.startEmbedded(listen, brokerAuth)
			if err != nil {
				return err
			}
			defer emb.Close()
			cfg := topics.apply(g.connection())
			cfg.Brokers = emb.Addrs()
			if brokerAuth {
				if cfg.SASL, err = g.embeddedParts(); err != nil {
					return err
				}
			}
			if err := system.ProvisionWith(cmd.Context(), cfg, topics.options()); err != nil {
				return err
			}
			log := g.logger()
			log.Info().Str("data_dir", g.dataDir).Strs("brokers", emb.Addrs()).Msg("embedded Kafka broker running; Ctrl-C stops it")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", DefaultListen, "address to listen on")
	cmd.Flags().BoolVar(&brokerAuth, "broker-auth", true, brokerAuthUsage)
	topics.register(cmd)
	return cmd
}

// topicFlags size the topics a command creates when they are missing.
type topicFlags struct {
	partitions   int32
	replication  int16
	minInsync    int16
	dlqRetention time.Duration
}

func (t *topicFlags) register(cmd *cobra.Command) {
	cmd.Flags().Int32Var(&t.partitions, "partitions", bus.DefaultPartitions, "partitions of each topic created at start (the saga topics must all have the same count)")
	cmd.Flags().Int16Var(&t.replication, "replication-factor", 0, "replicas of each topic created at start (0: min(3, brokers))")
	cmd.Flags().Int16Var(&t.minInsync, "min-insync-replicas", 0, "min.insync.replicas of each topic created at start (0: min(2, replicas-1)); existing topics that ask for fewer are warned of")
	cmd.Flags().DurationVar(&t.dlqRetention, "dlq-retention", 0, "how long the dead-letter topic keeps a record, when it is created (0: forever)")
}

// options are the topics' settings of the system.
func (t topicFlags) options() system.TopicOptions {
	return system.TopicOptions{DLQRetention: t.dlqRetention}
}

func (t topicFlags) apply(cfg bus.Config) bus.Config {
	cfg.Partitions, cfg.ReplicationFactor, cfg.MinInsyncReplicas = t.partitions, t.replication, t.minInsync
	return cfg
}

// brokerAuthUsage is the help of --broker-auth.
const brokerAuthUsage = "ask every connection for a SCRAM user of the data directory (one per part, made on first use); false accepts any local connection, for Kafka tools and tests"

// startEmbedded starts the data directory's broker, with a SCRAM user of
// each part when auth is on, and records its address (and whether it asks
// for a login) for the other commands run on the same data directory.
func (g *globals) startEmbedded(listen string, auth bool) (*bus.Embedded, error) {
	dataDir := g.dataDir
	if err := ensureDataDir(dataDir); err != nil {
		return nil, err
	}
	opts := bus.EmbeddedOptions{DataDir: filepath.Join(dataDir, "kafka"), ListenAddr: listen}
	marker := filepath.Join(dataDir, brokerAuthFile)
	if auth {
		users, err := brokerUsers(dataDir)
		if err != nil {
			return nil, err
		}
		opts.Users = embeddedUsers(users)
		if err := os.WriteFile(marker, []byte(bus.MechanismSCRAMSHA512+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("record the broker's login: %w", err)
		}
	} else if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	emb, err := bus.StartEmbedded(opts)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dataDir, addrFile), []byte(strings.Join(emb.Addrs(), ",")+"\n"), 0o600); err != nil {
		emb.Close()
		return nil, fmt.Errorf("record broker address: %w", err)
	}
	return emb, nil
}

// embeddedParts gives each part of this process its own user of the
// embedded broker (unless --sasl-credentials named others) and returns the
// shared login, the operator's, which provisions and seeds.
func (g *globals) embeddedParts() (bus.SASLConfig, error) {
	users, err := brokerUsers(g.dataDir)
	if err != nil {
		return bus.SASLConfig{}, err
	}
	if g.creds == nil {
		g.creds = users
	}
	return operatorLogin(g.dataDir, users)
}

// ctxErr hides the cancellation of a command stopped by a signal.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil //nolint:nilerr // a command stopped by a signal ends without an error
	}
	return err
}

// seeds tells whether a process seeds the demo catalogue: one that runs the
// orchestrator, which is what turns the seeding requests into shows.
func seeds(parts []string) bool {
	return len(parts) == 0 || slices.Contains(parts, "orchestrator")
}

// readModel is where a process that projects the logs keeps its read
// models: in the data directory, whichever broker it uses.
func readModel(g *globals, parts []string) string {
	if len(parts) > 0 && !slices.Contains(parts, "projections") {
		return ""
	}
	_ = ensureDataDir(g.dataDir)
	return g.readModelPath()
}

// startCPUProfile profiles the process until the returned stop is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// parseSLOs reads the --slo flags and checks them against the definitions
// the system runs, so that a mistyped name fails before anything starts.
func parseSLOs(flags []string, timings flows.Timings) (map[string]time.Duration, error) {
	slos := map[string]time.Duration{}
	for _, f := range flags {
		key, value, ok := strings.Cut(f, "=")
		d, err := time.ParseDuration(value)
		if !ok || key == "" || err != nil {
			return nil, usagef("--slo must be NAME[.STEP]=DURATION, like book-ticket=5m or book-ticket.ChargePayment=30s, got %q", f)
		}
		slos[key] = d
	}
	defs, err := flows.AllWith(timings)
	if err == nil {
		_, err = defs.WithSLOs(slos)
	}
	if err != nil {
		return nil, usagef("--slo: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return slos, nil
}

// horizonOrOff is the orchestrator's setting for a --compensation-horizon:
// 0 on the command line turns the horizon off.
func horizonOrOff(h time.Duration) time.Duration {
	if h <= 0 {
		return -1
	}
	return h
}
