package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
)

// topicVisibleTimeout bounds how long Provision waits for new topics to
// show up with leaders, when ctx has no earlier deadline.
const topicVisibleTimeout = 15 * time.Second

// TopicSpec describes one topic saga needs.
type TopicSpec struct {
	// Name is the logical name; Provision maps it through Config.Topic.
	Name string
	// Partitions; 0 means Config.Partitions.
	Partitions int32
	// Retention; 0 or negative keeps records forever (retention.ms=-1),
	// which event-sourced topics need: Kafka's broker default is 7 days.
	Retention time.Duration
}

// Validate reports every problem with the spec at once.
func (s TopicSpec) Validate() error {
	var errs []error
	if err := validName(s.Name); err != nil {
		errs = append(errs, fmt.Errorf("bus: topic name: %w", err))
	}
	if s.Partitions < 0 {
		errs = append(errs, fmt.Errorf("bus: topic %q: partitions must be >= 0 (0 = default), got %d", s.Name, s.Partitions))
	}
	if s.Retention > 0 && s.Retention < time.Millisecond {
		errs = append(errs, fmt.Errorf("bus: topic %q: retention %v is below Kafka's 1ms resolution", s.Name, s.Retention))
	}
	return errors.Join(errs...)
}

// retentionMs renders Retention as the retention.ms topic config.
func (s TopicSpec) retentionMs() string {
	if s.Retention <= 0 {
		return "-1"
	}
	return strconv.FormatInt(s.Retention.Milliseconds(), 10)
}

// Provision creates the topics that do not exist yet and waits until they
// have leaders, so the first publish does not race topic creation.
// Existing topics are left exactly as they are (partitions, retention):
// changing those is an operator decision, not a side effect of starting.
// Safe to call concurrently from several processes.
func Provision(ctx context.Context, cfg Config, specs []TopicSpec) error {
	cfg.setDefaults()
	if err := validateProvision(cfg, specs); err != nil {
		return err
	}
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		return unreachable(cfg, err)
	}
	defer admin.Close()

	rf, err := replicationFactor(cfg, admin)
	if err != nil {
		return err
	}
	if cfg.MinInsyncReplicas > rf {
		return fmt.Errorf("bus: min.insync.replicas %d is more than the %d replicas of a topic: no write could be acknowledged", cfg.MinInsyncReplicas, rf)
	}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bus: provision: %w", err)
		}
		name := cfg.Topic(s.Name)
		names = append(names, name)
		parts := s.Partitions
		if parts == 0 {
			parts = cfg.Partitions
		}
		err := admin.CreateTopic(name, &sarama.TopicDetail{
			NumPartitions:     parts,
			ReplicationFactor: rf,
			ConfigEntries:     topicConfig(s, rf, MinInsyncFor(cfg, rf)),
		}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("bus: create topic %s (%d partitions, replication %d): %w", name, parts, rf, err)
		}
	}
	return waitTopicsVisible(ctx, admin, names)
}

// topicConfig is what a new topic is created with: its retention, and
// minInsync when it is above the broker's default of 1 (a topic of one
// replica cannot ask for more).
func topicConfig(s TopicSpec, rf, minInsync int16) map[string]*string {
	retention := s.retentionMs()
	conf := map[string]*string{"retention.ms": &retention}
	if minInsync > 1 && minInsync <= rf {
		v := strconv.Itoa(int(minInsync))
		conf["min.insync.replicas"] = &v
	}
	return conf
}

// MinInsyncFor is the min.insync.replicas of a topic of rf replicas:
// cfg.MinInsyncReplicas when set, else min(2, rf-1).
func MinInsyncFor(cfg Config, rf int16) int16 {
	if cfg.MinInsyncReplicas > 0 {
		return cfg.MinInsyncReplicas
	}
	return max(1, min(2, rf-1))
}

func validateProvision(cfg Config, specs []TopicSpec) error {
	errs := []error{cfg.Validate()}
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		errs = append(errs, s.Validate())
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("bus: topic %q listed twice", s.Name))
		}
		seen[s.Name] = true
		if err := validName(cfg.Topic(s.Name)); s.Name != "" && err != nil {
			errs = append(errs, fmt.Errorf("bus: namespaced topic: %w", err))
		}
	}
	return errors.Join(errs...)
}

// replicationFactor resolves 0 to min(3, brokers): 1 on the embedded
// broker and a dev cluster, 3 on a production cluster.
func replicationFactor(cfg Config, admin sarama.ClusterAdmin) (int16, error) {
	if cfg.ReplicationFactor > 0 {
		return cfg.ReplicationFactor, nil
	}
	brokers, _, err := admin.DescribeCluster()
	if err != nil {
		return 0, fmt.Errorf("bus: describe cluster for replication factor: %w", err)
	}
	if len(brokers) == 0 {
		return 0, errors.New("bus: cluster metadata lists no brokers")
	}
	return int16(min(3, len(brokers))), nil
}

// waitTopicsVisible polls metadata until every topic has all partitions
// led; on a real cluster creation propagates asynchronously.
func waitTopicsVisible(ctx context.Context, admin sarama.ClusterAdmin, names []string) error {
	if len(names) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, topicVisibleTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pending, err := topicsNotReady(admin, names)
		if err == nil && len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("topics without leaders: %v", pending)
			}
			return fmt.Errorf("bus: wait for created topics: %w", errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
	}
}

func topicsNotReady(admin sarama.ClusterAdmin, names []string) ([]string, error) {
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		return nil, err
	}
	ready := make(map[string]bool, len(metas))
	for _, m := range metas {
		ready[m.Name] = m.Err == sarama.ErrNoError && len(m.Partitions) > 0 && allLed(m.Partitions)
	}
	var pending []string
	for _, n := range names {
		if !ready[n] {
			pending = append(pending, n)
		}
	}
	return pending, nil
}

func allLed(parts []*sarama.PartitionMetadata) bool {
	for _, p := range parts {
		if p.Err != sarama.ErrNoError || p.Leader < 0 {
			return false
		}
	}
	return true
}
