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
// model's status as the rebuild writes it. Nothing when there is no bar.
func watchRebuild(ctx context.Context, bar *progress, cfg bus.Config, db *readmodel.DB, names []string) (stop func()) {
	if bar == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		total := map[string]int64{} // records of each projection's logs
		seen := map[string]bool{}   // its rebuild was seen under way
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if st, err := readmodel.Status(ctx, cfg, db); err == nil {
				var n, sum int64
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
				bar.set(n, sum)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
		bar.done()
	}
}
