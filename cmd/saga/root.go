package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
)

// DefaultListen is where the embedded broker listens: not 9092, so that it
// never collides with an Apache Kafka on the same machine (9092-9094 for
// scripts/kafka.sh, 19092-19094 for the compose cluster).
const DefaultListen = "127.0.0.1:9192"

// addrFile, under the data directory, tells other commands where the
// embedded broker of `saga up` or `saga broker` listens.
const addrFile = "broker.addr"

// envNamespace names the environment variable of the hidden --namespace.
const envNamespace = "SAGA_NAMESPACE"

// Environment variables of --keys and --signatures.
const (
	envKeys       = "SAGA_KEYS"
	envSignatures = "SAGA_SIGNATURES"
	envServices   = "SAGA_SERVICES"
)

// globals are the flags every command shares.
type globals struct {
	brokers string
	dataDir string
	// keysDir holds a deployment's signing keys; empty means the data
	// directory's own.
	keysDir string
	// servicesFile declares the participants that run outside the binary.
	servicesFile string
	// signatures is false only to measure what signing and checking cost.
	signatures bool
	output     string
	logFormat  string
	logLevel   string
	clientID   string
	kafkaRetry string
	// namespace prefixes every topic and consumer group (hidden: for tests
	// that share one cluster, e.g. the chaos test).
	namespace string

	// Connection settings; see config.go for how flags, environment and
	// the config file combine.
	configFile    string
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	saslMechanism string
	saslUser      string
	saslPassword  string
	// saslCredentials is the file of each part's own SASL user; creds is
	// what it holds, by principal (see credentials.go).
	saslCredentials string
	creds           map[string]bus.SASLConfig

	// flags tells a flag given on the command line from its default.
	flags *pflag.FlagSet
	// getenv is os.Getenv; tests replace it.
	getenv func(string) string
	// conn is the resolved connection, set by validate.
	conn bus.Config
}

func newRoot() *cobra.Command { return newRootWith(&globals{}) }

// newRootWith builds the command tree around g, so tests can read the
// resolved settings.
func newRootWith(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "saga",
		Short:         "Kafka-native saga orchestrator: book across services, or undo everywhere",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
		Example: `  saga up                                   # run everything on an embedded broker
  saga book --user alice --show show-1 --seats 2 --payment-token tok_ok --wait 15s
  saga list --status compensated
  saga inspect BK-AWM2MDIU`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.validate()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	f := root.PersistentFlags()
	f.StringVar(&g.brokers, "brokers", "", "Kafka bootstrap brokers, comma separated (default $"+envBrokers+", else the config file, else the embedded broker)")
	f.StringVar(&g.dataDir, "data-dir", "./.saga", "directory of the embedded broker's data")
	f.StringVar(&g.keysDir, "keys", "", "`DIR` of a deployment's signing keys: keyring.json and the <principal>.key files of the parts this process runs (default $"+envKeys+", else the data directory's own, made on first use)")
	f.StringVar(&g.servicesFile, "services", "", "YAML or JSON `FILE` declaring the participant services that run outside this binary (name, key field, commands, sample data), so definitions can name them and their topics, keys and users are made (default $"+envServices+")")
	f.BoolVar(&g.signatures, "signatures", true, "sign every record written and check every record read; turn off only to measure what that costs (default $"+envSignatures+" unless \"off\")")
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&g.logFormat, "log-format", "console", "log format: console or json")
	f.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&g.kafkaRetry, "kafka-retry", "", "how long a read, wait or post retries transient Kafka errors (a broker restarting, leaders moving) before it fails; 0 fails at once (default $"+envKafkaRetry+", else "+bus.DefaultRetry.String()+")")
	f.StringVar(&g.clientID, "client-id", "", "Kafka client id (default $"+envClientID+", else the config file, else "+bus.DefaultClientID+")")
	f.StringVar(&g.configFile, "config", "", "YAML file with connection settings: brokers, client_id, tls, sasl (default $"+envConfig+")")
	f.BoolVar(&g.tls, "tls", false, "connect with TLS, checking certificates against the system's CAs (implied by --tls-ca, --tls-cert, --tls-key; default $"+envTLS+")")
	f.StringVar(&g.tlsCA, "tls-ca", "", "PEM file of the CA that signed the brokers' certificates; turns TLS on (default $"+envTLSCA+")")
	f.StringVar(&g.tlsCert, "tls-cert", "", "PEM client certificate, for brokers that require one; needs --tls-key (default $"+envTLSCert+")")
	f.StringVar(&g.tlsKey, "tls-key", "", "PEM private key of --tls-cert (default $"+envTLSKey+")")
	f.StringVar(&g.saslMechanism, "sasl-mechanism", "", "SASL mechanism: SCRAM-SHA-512 (default with a user), SCRAM-SHA-256 or PLAIN (default $"+envSASLMechanism+")")
	f.StringVar(&g.saslUser, "sasl-user", "", "SASL user; turns authentication on (default $"+envSASLUser+")")
	f.StringVar(&g.saslPassword, "sasl-password", "", "SASL password; prefer $"+envSASLPassword+" or the config file, which other users cannot see in ps")
	f.StringVar(&g.saslCredentials, "sasl-credentials", "", "JSON `FILE` of each part's own SASL user and password, by principal, e.g. {\"payment\": {\"user\": \"payment\", \"password\": \"...\"}}; mode 600 (default $"+envSASLCredentials+")")
	f.StringVar(&g.namespace, "namespace", "", "prefix of every topic and consumer group name, so several systems can share one cluster (default $"+envNamespace+")")
	_ = f.MarkHidden("namespace")
	g.flags = f
	root.AddCommand(newUp(g), newBroker(g), newBook(g), newCancel(g), newInspect(g), newList(g), newReplay(g), newRetry(g))
	root.AddCommand(newDefinitions(g), newDLQ(g), newReconcile(g), newShows(g), newProjections(g), newBench(g), newVersion(), newToken(g), newACL(g), newKeys(g), newParticipant(g))
	root.SetVersionTemplate("saga {{.Version}}\n")
	registerGlobalCompletions(root)
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
	conn, err := g.resolveConnection()
	conn.Namespace = first(g.flag("namespace", g.namespace), g.env(envNamespace))
	g.keysDir = first(g.flag("keys", g.keysDir), g.env(envKeys))
	if g.flag("signatures", "given") == "" && g.env(envSignatures) == "off" {
		g.signatures = false
	}
	if err == nil {
		err = checkConnection(conn)
	}
	errs = append(errs, err, g.declareServices())
	g.conn = conn
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
		// Colour only on a terminal, and never with NO_COLOR (no-color.org).
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly, NoColor: !colour(os.Stderr, os.Getenv)}
	}
	level, _ := zerolog.ParseLevel(g.logLevel)
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// connection is the Kafka connection of flags, environment and config
// file (see config.go). Brokers is empty when none are configured: `saga
// up` then starts the embedded broker.
func (g *globals) connection() bus.Config {
	cfg := g.conn
	cfg.Brokers = slices.Clone(cfg.Brokers)
	return cfg
}

// busConfig is the connection for commands that talk to a running system:
// the configured brokers, else the embedded broker of the data directory.
func (g *globals) busConfig() (bus.Config, error) {
	cfg := g.connection()
	if len(cfg.Brokers) == 0 {
		raw, err := os.ReadFile(filepath.Join(g.dataDir, addrFile))
		if err != nil {
			return bus.Config{}, fmt.Errorf("no broker: start one with `saga up` (data dir %s) or set --brokers, %s or brokers in the config file", g.dataDir, envBrokers)
		}
		cfg.Brokers = []string{strings.TrimSpace(string(raw))}
	}
	if cfg.SASL.User == "" && isEmbedded(g.dataDir, cfg.Brokers) {
		login, ok, err := embeddedLogin(g.dataDir)
		if err != nil {
			return bus.Config{}, err
		}
		if ok {
			cfg.SASL = login
		}
	}
	keys, ring, err := g.signing()
	if err != nil {
		return bus.Config{}, err
	}
	cfg = withKeys(cfg, keys, ring, events.PrincipalClient)
	return cfg, cfg.Validate()
}

// colour says whether f may be written in colour: a terminal, and the
// NO_COLOR variable unset or empty.
func colour(f *os.File, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// flagError says in words what pflag reports in Go's: `invalid argument
// "abc" for "--seats" flag: strconv.ParseInt: parsing "abc": invalid
// syntax` becomes `invalid argument "abc" for "--seats" flag: not a whole
// number`.
func flagError(err error) error {
	msg := err.Error()
	for _, w := range []struct{ marker, words string }{
		{": strconv.ParseInt:", ": not a whole number"},
		{": strconv.ParseUint:", ": not a whole number of zero or more"},
		{": strconv.ParseFloat:", ": not a number"},
		{": strconv.ParseBool:", ": not true or false"},
		{": time: ", ": not a duration (like 500ms, 15s or 2m)"},
	} {
		if i := strings.Index(msg, w.marker); i >= 0 {
			words := w.words
			if strings.Contains(msg[i:], "value out of range") {
				words = ": out of range"
			}
			return errors.New(msg[:i] + words)
		}
	}
	return err
}
