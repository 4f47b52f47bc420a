package bus

import (
	"fmt"

	"github.com/IBM/sarama"
)

// newClient opens a sarama client; a failure here means no broker
// answered, which callers report as unreachable.
func newClient(brokers []string, conf *sarama.Config) (sarama.Client, error) {
	c, err := sarama.NewClient(brokers, conf)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return c, nil
}
