package bus

import (
	"context"
	"fmt"
	"slices"
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
	admin, err := openAdmin(cfg)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	metas, err := admin.DescribeTopics(topics)
	if err != nil {
		return nil, fmt.Errorf("bus: describe topics: %w", err)
	}
	// The topics that should ask for more than Kafka's default, with
	// their replication and what they should ask for.
	type topic struct{ rf, want int16 }
	wanted := map[string]topic{}
	var resources []*sarama.ConfigResource
	for _, m := range metas {
		if m.Err != sarama.ErrNoError || len(m.Partitions) == 0 {
			continue
		}
		rf := int16(len(m.Partitions[0].Replicas))
		if want := MinInsyncFor(cfg, rf); want > 1 {
			wanted[m.Name] = topic{rf, want}
			resources = append(resources, &sarama.ConfigResource{Type: sarama.TopicResource, Name: m.Name, ConfigNames: []string{"min.insync.replicas"}})
		}
	}
	if err := ctx.Err(); err != nil || len(resources) == 0 {
		return nil, err
	}
	results, err := admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		return nil, fmt.Errorf("bus: describe the topics' configs: %w", err)
	}
	var warnings []string
	for _, r := range results {
		t, ok := wanted[r.Name]
		if !ok || r.ErrorCode != sarama.ErrNoError {
			continue
		}
		have := 1 // Kafka's default
		for _, e := range r.Configs {
			if n, err := strconv.Atoi(e.Value); e.Name == "min.insync.replicas" && err == nil {
				have = n
			}
		}
		if have < int(t.want) {
			warnings = append(warnings, fmt.Sprintf("topic %s has min.insync.replicas=%d with %d replicas: an acknowledged write may be on %d broker(s) only; "+
				"set it to %d with kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config min.insync.replicas=%d",
				r.Name, have, t.rf, have, t.want, r.Name, t.want))
		}
	}
	slices.Sort(warnings)
	return warnings, nil
}
