package main

import (
	"context"
	"slices"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// watchRebuild draws the progress of a rebuild of the named projections
// (all when none) until the returned func is called: records folded into
// the fresh tables out of the records of their logs, read from the read
// model's status as the rebuild writes it. Nothing when g shows no bar.
func watchRebuild(ctx context.Context, g *globals, cfg bus.Config, db *readmodel.DB, names []string) (stop func()) {
	if !g.progressShown() {
		return func() {}
	}
	total := map[string]int64{} // records of each projection's logs
	seen := map[string]bool{}   // its rebuild was seen under way
	// poll reads the status: records folded so far, and of every log.
	poll := func(ctx context.Context) (n, sum int64) {
		st, err := readmodel.Status(ctx, cfg, db)
		if err != nil {
			return -1, -1
		}
		for _, p := range st {
			if len(names) > 0 && !slices.Contains(names, p.Name) {
				continue
			}
			total[p.Name] = max(total[p.Name], p.Applied+p.Skipped+p.LagEvents)
			switch {
			case p.Rebuild != nil:
				seen[p.Name] = true
				n += p.Rebuild.Applied + p.Rebuild.Skipped
			case seen[p.Name]: // swapped in
				n += total[p.Name]
			}
			sum += total[p.Name]
		}
		return n, sum
	}
	_, sum := poll(ctx)
	bar := g.newProgress(max(sum, 1), "rebuilding the read models")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, sum := poll(ctx); n >= 0 {
				bar.set(n, sum)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		bar.done()
	}
}
