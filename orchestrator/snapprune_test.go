package orchestrator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/bus/bustest"
	"github.com/sagaflow/saga/events"
)

// The snapshot topic keeps its records forever; a running orchestrator
// deletes a partition's snapshots once two newer ones are written, and a
// restart still recovers from the newest.
func TestSupersededSnapshotsAreDeleted(t *testing.T) {
	e := newEnv(t, 1)
	o := e.unopened(func(c *Config) { c.SnapshotEvents, c.Tick = 16, 20*time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	l, err := bus.OpenLog(e.cfg, bus.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	topic := e.cfg.Topic(events.TopicSagaSnapshots)
	i := 0
	bustest.Eventually(t, 60*time.Second, func() (bool, string) {
		e.request(fmt.Sprintf("run-%d", i))
		i++
		oldest, _, err := l.Bounds(topic, 0)
		return err == nil && oldest > 0 && o.logs.count("snapshot written") >= 3, fmt.Sprintf("oldest snapshot record %d (%v)", oldest, err)
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := o.logs.count("older snapshots not deleted"); n > 0 {
		t.Errorf("%d deletions failed:\n%s", n, o.logs.String())
	}
	again := e.orchestrator(nil)
	e.recover(again)
	again.logs.line(t, "recovered partition from its snapshot", `"partition":0`)
	full := e.orchestrator(func(c *Config) { c.NoSnapshots = true })
	e.recover(full)
	sameSagas(t, again, full)
}
