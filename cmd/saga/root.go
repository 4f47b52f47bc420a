package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/sagaflow/saga/bus"
)

// DefaultListen is where the embedded broker listens: not 9092, so that it
// never collides with an Apache Kafka on the same machine (9092-9094 for
// scripts/kafka.sh, 19092-19094 for the compose cluster).
const DefaultListen = "127.0.0.1:9192"

// addrFile, under the data directory, tells other commands where the
// embedded broker of `saga up` or `saga broker` listens.
const addrFile = "broker.addr"

// globals are the flags every command shares.
type globals struct {
	brokers   string
	dataDir   string
	output    string
	logFormat string
	logLevel  string
	clientID  string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "saga",
		Short:         "Kafka-native saga orchestrator: book across services, or undo everywhere",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.validate()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := root.PersistentFlags()
	f.StringVar(&g.brokers, "brokers", "", "Kafka bootstrap brokers, comma separated (default $KAFKA_BROKERS, else the embedded broker)")
	f.StringVar(&g.dataDir, "data-dir", "./.saga", "directory of the embedded broker's data")
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&g.logFormat, "log-format", "console", "log format: console or json")
	f.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&g.clientID, "client-id", "saga", "Kafka client id")
	root.AddCommand(newUp(g), newBroker(g), newBook(g), newCancel(g), newInspect(g), newList(g), newReplay(g))
	return root
}

func (g *globals) validate() error {
	var errs []error
	if g.output != "text" && g.output != "json" {
		errs = append(errs, fmt.Errorf("--output must be text or json, got %q", g.output))
	}
	if g.logFormat != "console" && g.logFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format must be console or json, got %q", g.logFormat))
	}
	if _, err := zerolog.ParseLevel(g.logLevel); err != nil || g.logLevel == "" {
		errs = append(errs, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", g.logLevel))
	}
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	return nil
}

func (g *globals) json() bool { return g.output == "json" }

// logger writes to stderr, so that stdout holds only a command's answer.
func (g *globals) logger() zerolog.Logger {
	var w io.Writer = os.Stderr
	if g.logFormat == "console" {
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}
	}
	level, _ := zerolog.ParseLevel(g.logLevel)
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// configuredBrokers returns the brokers named by flag or environment.
func (g *globals) configuredBrokers() []string {
	s := g.brokers
	if s == "" {
		s = os.Getenv("KAFKA_BROKERS")
	}
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// busConfig is the connection for commands that talk to a running system:
// the configured brokers, else the embedded broker of the data directory.
func (g *globals) busConfig() (bus.Config, error) {
	brokers := g.configuredBrokers()
	if len(brokers) == 0 {
		raw, err := os.ReadFile(filepath.Join(g.dataDir, addrFile))
		if err != nil {
			return bus.Config{}, fmt.Errorf("no broker: start one with `saga up` (data dir %s) or set --brokers or KAFKA_BROKERS", g.dataDir)
		}
		brokers = []string{strings.TrimSpace(string(raw))}
	}
	cfg := bus.Config{Brokers: brokers, ClientID: g.clientID}
	return cfg, cfg.Validate()
}
