package bus

import (
	"context"
	"fmt"
	"strconv"

	"github.com/IBM/sarama"
)

// CheckMinInsync compares the topics' min.insync.replicas with what
// Provision would create them with (MinInsyncFor their replication) and
// returns one warning per topic that asks for fewer: Provision leaves
// existing topics as they are, so a topic made before, by hand or by an
// older version, may acknowledge a write held by one broker alone.
// Topics are cluster names (Config.Topic).
func CheckMinInsync(ctx context.Context, cfg Config, topics []string) ([]string, error) {
	cfg.setDefaults()
	conf, err := SaramaConfig(cfg)
	if err != nil {
		return nil, err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, conf)
	if err != nil {
		return nil, unreachable(cfg, err)
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics(topics)
	if err != nil {
		return nil, fmt.Errorf("bus: describe topics: %w", err)
	}
	var warnings []string
	for _, m := range metas {
		if err := ctx.Err(); err != nil {
			return warnings, err
		}
		if m.Err != sarama.ErrNoError || len(m.Partitions) == 0 {
			continue
		}
		rf := int16(len(m.Partitions[0].Replicas))
		want := MinInsyncFor(cfg, rf)
		if want <= 1 {
			continue
		}
		entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"min.insync.replicas"}})
		if err != nil {
			return warnings, fmt.Errorf("bus: describe the config of %s: %w", m.Name, err)
		}
		have := 1 // Kafka's default
		for _, e := range entries {
			if e.Name == "min.insync.replicas" {
				if n, err := strconv.Atoi(e.Value); err == nil {
					have = n
				}
			}
		}
		if have < int(want) {
			warnings = append(warnings, fmt.Sprintf("topic %s has min.insync.replicas=%d with %d replicas: an acknowledged write may be on %d broker(s) only; "+
				"set it to %d with kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config min.insync.replicas=%d",
				m.Name, have, rf, have, want, m.Name, want))
		}
	}
	return warnings, nil
}
