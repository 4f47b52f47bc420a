package bus

import "github.com/ThreeDotsLabs/watermill/message"

// FlushOutbox lets the benchmarks of package bus_test write an outbox as a
// Group does.
func FlushOutbox(o *Outbox, pub message.Publisher, together bool) error {
	return o.flush(pub, together)
}
