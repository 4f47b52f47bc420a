package bus

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// failingTopic is a publisher whose writes to one topic fail; it records
// the topics written.
type failingTopic struct {
	fail    string
	mu      sync.Mutex
	written []string
}

func (p *failingTopic) Publish(topic string, _ ...*message.Message) error {
	if topic == p.fail {
		return errors.New("not written")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written = append(p.written, topic)
	return nil
}

func (p *failingTopic) Close() error { return nil }

// TestOutboxRounds fails the log's write: written log first, nothing is
// sent; written in one round, what the log decided is sent all the same
// (the case a OneRound consumer must decide again after a crash).
func TestOutboxRounds(t *testing.T) {
	for _, together := range []bool{false, true} {
		o := &Outbox{}
		o.Add(PhaseLog, "log", message.NewMessage("e1", nil))
		o.Add(PhaseSend, "replies", message.NewMessage("r1", nil))
		pub := &failingTopic{fail: "log"}
		if err := o.flush(pub, together); err == nil {
			t.Fatalf("together=%v: flush succeeded with the log unwritten", together)
		}
		var want []string
		if together {
			want = []string{"replies"}
		}
		if !slices.Equal(pub.written, want) {
			t.Errorf("together=%v: written %v, want %v", together, pub.written, want)
		}
		pub.fail = ""
		if err := o.flush(pub, together); err != nil {
			t.Fatalf("together=%v: retried flush: %v", together, err)
		}
		slices.Sort(pub.written)
		if want := append(want, "log", "replies"); !slices.Equal(pub.written, slices.Sorted(slices.Values(want))) {
			t.Errorf("together=%v: after the retry written %v, want %v", together, pub.written, want)
		}
	}
}
