package bus

import "github.com/ThreeDotsLabs/watermill/message"

// FlushOutbox lets the benchmarks of package bus_test write an outbox as a
// Group does.
func FlushOutbox(o *Outbox, pub message.Publisher, together bool) error {
	return o.flush(pub, together)
}

// RetryBackoff and ProducerRetries let the tests of package bus_test check
// the retry budget of every client.
var RetryBackoff = retryBackoff

const ProducerRetries = producerRetries
