package bus

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/sagaflow/saga/metrics"
	"github.com/sagaflow/saga/sign"
)

// Defaults applied by setDefaults; exported so callers can document them.
const (
	DefaultClientID    = "saga"
	DefaultPartitions  = int32(4)
	DefaultDialTimeout = 5 * time.Second
)

// maxNameLen is Kafka's limit for topic names (249); we apply it to the
// namespaced name so a long namespace cannot produce an invalid topic.
const maxNameLen = 249

// Config says where the cluster is and how saga names things on it.
type Config struct {
	// Brokers are the bootstrap addresses ("host:port").
	Brokers []string
	// ClientID identifies saga in broker logs and quotas. Default "saga".
	ClientID string
	// Namespace prefixes every topic and consumer group name so that
	// several runs (e.g. tests) can share one cluster without seeing each
	// other. Empty means no prefix.
	Namespace string
	// Partitions is the partition count for provisioned topics that do not
	// say otherwise. Default 4.
	Partitions int32
	// ReplicationFactor for provisioned topics; 0 means
	// min(3, brokers in the cluster metadata).
	ReplicationFactor int16
	// MinInsyncReplicas for provisioned topics: how many replicas must
	// have a record before acks=all acknowledges it. 0 means
	// min(2, replication-1) (MinInsyncFor), so one broker may be down and an
	// acknowledged record is still on two when there are three.
	MinInsyncReplicas int16
	// DialTimeout bounds connecting to a broker, so an unreachable cluster
	// fails in seconds instead of hanging. Default 5s.
	DialTimeout time.Duration
	// TLS encrypts the connection and verifies the brokers' certificates.
	TLS TLSConfig
	// SASL authenticates saga to the brokers.
	SASL SASLConfig
	// Partitioner places keyed records; Murmur2 (Kafka's default) when
	// empty. A deployment whose logs were written with FNV1a keeps it:
	// DetectPartitioner says which one a cluster's logs use.
	Partitioner Partitioner
	// Signer signs every record this part writes (see Marshaler); nil
	// writes them unsigned.
	Signer *sign.Key
	// Trust holds the public keys of the parts whose records this part
	// obeys (see Verify); nil obeys records without checking who wrote
	// them, which only a benchmark of the checks' cost should do.
	Trust *sign.Keyring
	// Metrics, when set, counts what this part's consumers dead-letter and
	// reports their groups' lag (see metrics); nil records nothing.
	Metrics *metrics.Metrics
	// Retry is how long a client's read, follow or write retries transient
	// Kafka errors (a broker restarting, leaders moving; see Transient)
	// with backoff and fresh metadata before it fails; DefaultRetry when
	// zero, no retry when negative.
	Retry time.Duration
}

// setDefaults fills zero values; Config is passed by value so this only
// touches the caller's copy.
func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
}

// Validate reports every problem at once. Zero values that have a default
// are valid.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("bus: no brokers configured"))
	}
	for i, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("bus: broker %d %q is not host:port: %w", i, b, err))
		}
	}
	if err := c.Partitioner.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Partitions < 0 {
		errs = append(errs, fmt.Errorf("bus: partitions must be >= 0 (0 = default %d), got %d", DefaultPartitions, c.Partitions))
	}
	if c.MinInsyncReplicas < 0 || (c.ReplicationFactor > 0 && c.MinInsyncReplicas > c.ReplicationFactor) {
		errs = append(errs, fmt.Errorf("bus: min.insync.replicas must be between 0 (auto) and the replication factor, got %d", c.MinInsyncReplicas))
	}
	if c.ReplicationFactor < 0 {
		errs = append(errs, fmt.Errorf("bus: replication factor must be >= 0 (0 = auto), got %d", c.ReplicationFactor))
	}
	if c.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("bus: dial timeout must be >= 0, got %v", c.DialTimeout))
	}
	if c.Namespace != "" {
		if err := validName(c.Namespace); err != nil {
			errs = append(errs, fmt.Errorf("bus: namespace: %w", err))
		}
	}
	errs = append(errs, c.TLS.Validate(), c.SASL.Validate())
	return errors.Join(errs...)
}

// Topic maps a logical topic name to the name used on the cluster.
func (c Config) Topic(name string) string { return c.prefixed(name) }

// Group maps a logical consumer group name to the name used on the cluster.
func (c Config) Group(name string) string { return c.prefixed(name) }

// Unprefixed is the name of a topic of this namespace without its prefix;
// false when topic is not of this namespace.
func (c Config) Unprefixed(topic string) (string, bool) {
	if c.Namespace == "" {
		return topic, true
	}
	return strings.CutPrefix(topic, c.Namespace+".")
}

func (c Config) prefixed(name string) string {
	if c.Namespace == "" {
		return name
	}
	return c.Namespace + "." + name
}

// validName enforces Kafka's topic name rules ([a-zA-Z0-9._-], at most
// 249 chars, not "." or ".."), which also keep group names tidy.
func validName(s string) error {
	switch {
	case s == "":
		return errors.New("empty name")
	case s == "." || s == "..":
		return fmt.Errorf("%q is not allowed", s)
	case len(s) > maxNameLen:
		return fmt.Errorf("%q is longer than %d characters", s, maxNameLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("%q has invalid character %q (allowed: a-z A-Z 0-9 . _ -)", s, s[i])
	}
	return nil
}
