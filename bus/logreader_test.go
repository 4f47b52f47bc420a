package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sagaflow/saga/bus"
)

// expectedByPartition is what each partition must hold: the payloads in
// publish order, split by PartitionFor of their key.
func expectedByPartition(msgs []*message.Message, n int32) map[int32][]string {
	want := map[int32][]string{}
	for _, m := range msgs {
		p := bus.PartitionFor(m.Metadata.Get(bus.MetaKey), n)
		want[p] = append(want[p], string(m.Payload))
	}
	return want
}

func TestReadAllReturnsEveryRecordInOrderPerPartition(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "log"})
	topic := cfg.Topic("log")
	var msgs []*message.Message
	for i := range 40 {
		msgs = append(msgs, keyed(fmt.Sprintf("saga-%d", i%7), fmt.Sprintf("e%02d", i)))
	}
	publish(t, cfg, topic, msgs...)

	recs := readAll(t, cfg, topic)
	if len(recs) != len(msgs) {
		t.Fatalf("read %d records, wrote %d: %s", len(recs), len(msgs), describe(recs))
	}
	got := map[int32][]string{}
	for i, r := range recs {
		if i > 0 && (r.Partition < recs[i-1].Partition || r.Partition == recs[i-1].Partition && r.Offset != recs[i-1].Offset+1) {
			t.Fatalf("not in partition/offset order: %s", describe(recs))
		}
		if r.Topic != topic || r.Timestamp.IsZero() || r.Headers["type"] != "test.event" {
			t.Errorf("record %d/%d: topic %q ts %v headers %v", r.Partition, r.Offset, r.Topic, r.Timestamp, r.Headers)
		}
		got[r.Partition] = append(got[r.Partition], string(r.Value))
	}
	want := expectedByPartition(msgs, 4)
	for p := range int32(4) {
		if !slices.Equal(got[p], want[p]) {
			t.Errorf("partition %d: got %v, want %v", p, got[p], want[p])
		}
	}
}

func TestReadAllStopsAtTheSnapshot(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "snap"})
	topic := cfg.Topic("snap")
	var before []*message.Message
	for i := range 8 {
		before = append(before, keyed(fmt.Sprintf("k%d", i), fmt.Sprintf("before-%d", i)))
	}
	publish(t, cfg, topic, before...)

	// While ReadAll is on its first record, write to every partition.
	var after []*message.Message
	for i := range 8 {
		after = append(after, keyed(fmt.Sprintf("k%d", i), fmt.Sprintf("after-%d", i)))
	}
	var recs []bus.Record
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := bus.ReadAll(ctx, cfg, topic, func(r bus.Record) error {
		if len(recs) == 0 {
			publish(t, cfg, topic, after...)
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(before) {
		t.Fatalf("read %d records, want the %d written before the call: %s", len(recs), len(before), describe(recs))
	}
	for _, r := range recs {
		if string(r.Value[:6]) != "before" {
			t.Errorf("read a record written after the snapshot: %s", r.Value)
		}
	}
	if n := len(readAll(t, cfg, topic)); n != 16 {
		t.Errorf("second read saw %d records, want 16", n)
	}
}

func TestReadAllStopsOnCallbackError(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "stop", Partitions: 1})
	topic := cfg.Topic("stop")
	publish(t, cfg, topic, keyed("a", "1"), keyed("a", "2"), keyed("a", "3"))
	boom := errors.New("boom")
	calls := 0
	err := bus.ReadAll(t.Context(), cfg, topic, func(bus.Record) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestReadAllOfEmptyAndMissingTopics(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "empty"})
	if recs := readAll(t, cfg, cfg.Topic("empty")); len(recs) != 0 {
		t.Fatalf("empty topic gave %d records", len(recs))
	}
	err := bus.ReadAll(t.Context(), cfg, cfg.Topic("missing"), func(bus.Record) error { return nil })
	if err == nil {
		t.Fatal("reading a missing topic should fail, not create it")
	}
}

func TestReadPartitionFromOffset(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "part", Partitions: 1})
	topic := cfg.Topic("part")
	var msgs []*message.Message
	for i := range 6 {
		msgs = append(msgs, keyed("k", fmt.Sprint(i)))
	}
	publish(t, cfg, topic, msgs...)
	var got []string
	err := bus.ReadPartition(t.Context(), cfg, topic, 0, 4, func(r bus.Record) error {
		got = append(got, string(r.Value))
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"4", "5"}) {
		t.Fatalf("got %v, err %v", got, err)
	}
}

func TestFollowSeesOldAndNewRecordsUntilCancelled(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "follow", Partitions: 2})
	topic := cfg.Topic("follow")
	publish(t, cfg, topic, keyed("a", "old-a"), keyed("b", "old-b"))

	var mu sync.Mutex
	seen := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- bus.Follow(ctx, cfg, topic, func(r bus.Record) error {
			mu.Lock()
			defer mu.Unlock()
			seen[string(r.Value)] = true
			return nil
		})
	}()
	has := func(vals ...string) func() (bool, string) {
		return func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			for _, v := range vals {
				if !seen[v] {
					return false, fmt.Sprintf("have %v, missing %s", seen, v)
				}
			}
			return true, ""
		}
	}
	bustestEventually(t, 20*time.Second, has("old-a", "old-b"))
	publish(t, cfg, topic, keyed("a", "new-a"), keyed("b", "new-b"))
	bustestEventually(t, 20*time.Second, has("new-a", "new-b"))
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
}

// TestFollowFromStartsAtTheGivenOffsets: a partition starts at its given
// offset, clamped to the records stored; one not given starts at the
// oldest.
func TestFollowFromStartsAtTheGivenOffsets(t *testing.T) {
	t.Parallel()
	cfg := bustestStart(t)
	provision(t, cfg, bus.TopicSpec{Name: "from", Partitions: 1})
	topic := cfg.Topic("from")
	var msgs []*message.Message
	for i := range 6 {
		msgs = append(msgs, keyed("k", fmt.Sprint(i)))
	}
	publish(t, cfg, topic, msgs...)
	for _, c := range []struct {
		from  map[int32]int64
		first string
	}{{map[int32]int64{0: 4}, "4"}, {map[int32]int64{0: -3}, "0"}, {nil, "0"}} {
		ctx, cancel := context.WithCancel(t.Context())
		got := make(chan string, 10)
		done := make(chan error, 1)
		go func() {
			done <- bus.FollowFrom(ctx, cfg, topic, c.from, func(r bus.Record) error {
				got <- string(r.Value)
				return nil
			})
		}()
		select {
		case v := <-got:
			if v != c.first {
				t.Errorf("from %v: first record %q, want %q", c.from, v, c.first)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("from %v: no record", c.from)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("from %v: %v", c.from, err)
		}
	}
}
