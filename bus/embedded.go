package bus

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultEmbeddedListenAddr picks a free loopback port.
const DefaultEmbeddedListenAddr = "127.0.0.1:0"

// EmbeddedOptions configures the single-node broker saga runs in-process
// when no Kafka cluster is given.
type EmbeddedOptions struct {
	// DataDir holds the broker's log segments, topics and group offsets.
	// Required: an embedded broker that forgets is not a log.
	DataDir string
	// ListenAddr is the loopback "host:port" to listen on, e.g.
	// "127.0.0.1:9092". Default "127.0.0.1:0" (any free port). Non-loopback
	// hosts are rejected: the embedded broker is for this machine.
	ListenAddr string
	// Partitions is used when a CreateTopics request asks for the broker
	// default (-1). Default 4.
	Partitions int32
	// Logger receives the broker's warnings and errors (e.g. failed disk
	// writes). The zero value discards them.
	Logger zerolog.Logger
	// Users are the SCRAM-SHA-512 users the broker accepts, user to
	// password. Without any it accepts every connection of this machine.
	Users map[string]string
}

func (o *EmbeddedOptions) setDefaults() {
	if o.ListenAddr == "" {
		o.ListenAddr = DefaultEmbeddedListenAddr
	}
	if o.Partitions == 0 {
		o.Partitions = DefaultPartitions
	}
}

// Validate reports every problem at once.
func (o EmbeddedOptions) Validate() error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, errors.New("bus: embedded broker needs a data dir"))
	}
	if o.Partitions < 0 {
		errs = append(errs, fmt.Errorf("bus: embedded partitions must be >= 0, got %d", o.Partitions))
	}
	if o.ListenAddr != "" {
		if err := checkLoopback(o.ListenAddr); err != nil {
			errs = append(errs, fmt.Errorf("bus: embedded listen address: %w", err))
		}
	}
	return errors.Join(errs...)
}

// checkLoopback accepts only loopback IP literals and "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// Embedded is a running single-node broker backed by DataDir.
type Embedded struct {
	cluster *kfake.Cluster
	addrs   []string
	unlock  func() error
}

// StartEmbedded starts a kfake broker that persists to opts.DataDir and
// reloads whatever an earlier run left there.
//
// Every produced batch and every group log entry is fsynced before it is
// acknowledged (SyncWrites), and topic metadata is rewritten atomically on
// change, so a kill -9 loses nothing that a client saw acknowledged.
// Topics are never auto-created: Provision owns that.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("bus: create embedded data dir: %w", err)
	}
	unlock, err := lockDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}

	listenAddr := opts.ListenAddr
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(opts.DataDir),
		kfake.SyncWrites(),
		kfake.DefaultNumPartitions(int(opts.Partitions)),
		// kfake asks for 127.0.0.1:<random>; we bind exactly where told
		// (always loopback, checked above) so the port can be fixed.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, listenAddr)
		}),
		kfake.WithLogger(kfakeLogger{log: opts.Logger}),
	}
	if len(opts.Users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for u, p := range opts.Users {
			kopts = append(kopts, kfake.Superuser(MechanismSCRAMSHA512, u, p))
		}
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bus: start embedded broker on %s with data in %s: %w", listenAddr, opts.DataDir, err), unlock())
	}
	return &Embedded{cluster: cluster, addrs: cluster.ListenAddrs(), unlock: unlock}, nil
}

// Addrs are the bootstrap addresses for Config.Brokers.
func (e *Embedded) Addrs() []string { return append([]string(nil), e.addrs...) }

// Config is a Config pointing at this broker.
func (e *Embedded) Config() Config { return Config{Brokers: e.Addrs()} }

// Close stops the broker and writes its full state (snapshots, compacted
// group log) to DataDir; it is safe to call more than once.
func (e *Embedded) Close() {
	e.cluster.Close()
	if e.unlock != nil {
		_ = e.unlock()
		e.unlock = nil
	}
}
