package bus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
)

// TestBatchPublisherKeepsOrder writes one partition's records through a
// BatchPublisher in calls of one and of several, some on their own and
// some overlapping others (which take its other producer): each call's
// records land in order, calls that do not overlap in the order made, and
// nothing twice.
func TestBatchPublisherKeepsOrder(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "batch.order", Partitions: 1})
	topic := cfg.Topic("batch.order")
	pub, err := bus.NewBatchPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	msgs := func(prefix string, n int) []*message.Message {
		var out []*message.Message
		for i := range n {
			out = append(out, message.NewMessage(fmt.Sprintf("%s-%d", prefix, i), []byte(prefix)))
		}
		return out
	}
	var want []string
	publish := func(prefix string, n int) {
		if err := pub.Publish(topic, msgs(prefix, n)...); err != nil {
			t.Error(err)
		}
	}
	for i := range 10 { // on their own: in the order made
		publish(fmt.Sprintf("seq%d", i), 1+i%3)
		for j := range 1 + i%3 {
			want = append(want, fmt.Sprintf("seq%d-%d", i, j))
		}
	}
	var wg sync.WaitGroup
	for g := range 4 { // overlapping: each call in order, calls in any order
		wg.Go(func() {
			for i := range 5 {
				publish(fmt.Sprintf("par%d.%d", g, i), 3)
			}
		})
	}
	wg.Wait()

	log, err := bus.OpenLog(cfg, bus.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	if err := log.ReadRange(ctx, topic, 0, 0, -1, func(r bus.Record) error {
		got = append(got, r.Headers[bus.HeaderID])
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)+4*5*3 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("records %q\nwant first %q and 60 more", got, want)
	}
	seen := map[string]bool{}
	for i := len(want); i < len(got); i++ {
		if seen[got[i]] {
			t.Fatalf("%s written twice", got[i])
		}
		seen[got[i]] = true
	}
	for g := range 4 {
		for i := range 5 {
			a := slices.Index(got, fmt.Sprintf("par%d.%d-0", g, i))
			b := slices.Index(got, fmt.Sprintf("par%d.%d-1", g, i))
			c := slices.Index(got, fmt.Sprintf("par%d.%d-2", g, i))
			if a < 0 || a > b || b > c {
				t.Errorf("call par%d.%d out of order: %q", g, i, got)
			}
		}
	}
}
