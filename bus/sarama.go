package bus

import (
	"time"

	"github.com/IBM/sarama"
)

// Timeouts that are not worth a Config knob. They are short so that a sick
// cluster surfaces as an error quickly; see SaramaConfig for the
// constraints between them.
const (
	readTimeout      = 10 * time.Second
	produceTimeout   = 5 * time.Second
	rebalanceTimeout = 5 * time.Second
	sessionTimeout   = 10 * time.Second
	heartbeat        = 1 * time.Second
	metadataBackoff  = 250 * time.Millisecond
	producerRetries  = 20
)

// retryBackoff is the pause before retry n (from 1) of a produce or a
// fetch: 100 ms doubling to at most 500 ms.
func retryBackoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < 500*time.Millisecond; i++ {
		d *= 2
	}
	return min(d, 500*time.Millisecond)
}

// SaramaConfig is the one sarama configuration every saga client uses
// (publisher, subscriber, admin, log reader), so behaviour is the same on
// the embedded broker and on Apache Kafka. Each call returns a fresh copy.
// It fails only when the TLS files cannot be loaded or the SASL settings
// are incomplete.
func SaramaConfig(cfg Config) (*sarama.Config, error) {
	cfg.setDefaults()
	c := sarama.NewConfig()
	// TLS and SASL, when configured; see applySecurity.
	if err := applySecurity(c, cfg); err != nil {
		return nil, err
	}

	// Highest level we rely on that kfake and Kafka 3.6+/4.x both speak;
	// 4.x dropped the pre-2.1 request versions sarama's default would use.
	c.Version = sarama.V3_6_0_0
	// Names saga in broker logs, quotas and group descriptions.
	c.ClientID = cfg.ClientID

	// Connect fast or fail fast: sarama's 30s default hangs the CLI.
	c.Net.DialTimeout = cfg.DialTimeout
	// sarama's read deadline also covers broker-side waits (JoinGroup up to
	// the rebalance timeout, acks=all up to the produce timeout), so it
	// must exceed both or healthy rebalances turn into I/O timeouts.
	c.Net.ReadTimeout = readTimeout
	// Writes are small; a stalled socket is a dead broker.
	c.Net.WriteTimeout = cfg.DialTimeout
	// One in-flight request per connection: sarama requires it for the
	// idempotent producer, and it keeps per-partition order across retries.
	c.Net.MaxOpenRequests = 1

	// Two quick metadata retries: an unreachable cluster errors within a
	// few seconds instead of looping.
	c.Metadata.Retry.Max = 2
	// Short backoff between metadata retries, for the same reason.
	c.Metadata.Retry.Backoff = metadataBackoff
	// Full metadata (sarama's default, kept on purpose): with Full=false
	// NewClient contacts no broker (so nothing fails fast) and ClusterAdmin
	// cannot find the controller ("no specific topics to update metadata").
	c.Metadata.Full = true
	// Topics are provisioned explicitly; a typo must fail instead of
	// creating a topic with broker defaults (Kafka defaults to auto-create).
	c.Metadata.AllowAutoTopicCreation = false

	// Broker de-duplicates retried batches: no duplicates from retries.
	c.Producer.Idempotent = true
	// An event is acknowledged only once every in-sync replica has it.
	c.Producer.RequiredAcks = sarama.WaitForAll
	// SyncProducer (and so the Watermill publisher) needs success reports.
	c.Producer.Return.Successes = true
	// Ride out a broker's loss before reporting failure: its partitions
	// get new leaders once the controller fences it (seconds; 2.5 s on
	// scripts/kafka.sh clusters), and each retry asks for fresh metadata.
	c.Producer.Retry.Max = producerRetries
	// Quick first retries, so a leader that moved is found at once, then
	// capped: about 8 s of retrying in all.
	c.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration { return retryBackoff(retries) }
	// Broker-side wait for acks=all; must stay below Net.ReadTimeout.
	c.Producer.Timeout = produceTimeout
	// Keyed records go where cfg.Partitioner says; explicit so a sarama
	// default change cannot silently re-shard saga state.
	c.Producer.Partitioner = cfg.Partitioner.constructor()

	// A new consumer group starts from the beginning: the log is the
	// source of truth and nothing may be skipped.
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Never expose records of aborted transactions to saga.
	c.Consumer.IsolationLevel = sarama.ReadCommitted
	// Surface consumer errors instead of only logging them.
	c.Consumer.Return.Errors = true
	// A partition whose leader was lost is fetched again from its new
	// leader after this pause (sarama's default is 2 s, which a broker's
	// loss would add to every stall).
	c.Consumer.Retry.BackoffFunc = retryBackoff

	// A dead member (kill -9) is evicted after 10s and its partitions move.
	c.Consumer.Group.Session.Timeout = sessionTimeout
	// Frequent heartbeats notice rebalances quickly.
	c.Consumer.Group.Heartbeat.Interval = heartbeat
	// Members get 5s to rejoin; must stay below Net.ReadTimeout.
	c.Consumer.Group.Rebalance.Timeout = rebalanceTimeout
	// Retry joining a few times, quickly, before giving up.
	c.Consumer.Group.Rebalance.Retry.Max = 4
	// Short pause between join retries (sarama default is 2s).
	c.Consumer.Group.Rebalance.Retry.Backoff = 500 * time.Millisecond

	return c, nil
}
