package readmodel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/metrics"
)

// CatchUp applies to the named projections (every one when none is named)
// the records their topics hold when it starts, and returns. The CLI calls
// it before answering from the read model; tests call it to settle.
func CatchUp(ctx context.Context, cfg bus.Config, db *DB, names ...string) error {
	ps, err := selected(names)
	if err != nil {
		return err
	}
	// One connection per projection: consumers sharing one would queue
	// their fetches behind each other's long polls.
	return each(ps, func(p *projection) error {
		l, err := openLog(ctx, cfg)
		if err != nil {
			return err
		}
		defer l.Close()
		_, err = db.drive(ctx, l, []*target{newTarget(p, p.name, "")}, db.batchSize, false)
		return err
	})
}

// each runs fn for every projection concurrently and joins their errors.
func each(ps []*projection, fn func(p *projection) error) error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			if err := fn(p); err != nil {
				errs[i] = fmt.Errorf("projection %s: %w", p.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RunOptions tune Run.
type RunOptions struct {
	// OnError hears of every error a projection met; Run retries after
	// it (with a backoff of up to MaxBackoff).
	OnError func(projection string, err error)
	// MaxBackoff caps the wait before a retry. Default 30s.
	MaxBackoff time.Duration
}

// Run keeps the named projections (every one when none is named) up to
// date with their topics until ctx ends, then returns nil. Errors (an
// unreachable broker, a busy database) are retried with a backoff.
func Run(ctx context.Context, cfg bus.Config, db *DB, names ...string) error {
	return RunWith(ctx, cfg, db, RunOptions{}, names...)
}

// RunWith is Run with options.
func RunWith(ctx context.Context, cfg bus.Config, db *DB, opts RunOptions, names ...string) error {
	ps, err := selected(names)
	if err != nil {
		return err
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	defer cfg.Metrics.AddProjectionLag(projectionLag(cfg, db))()
	_ = each(ps, func(p *projection) error {
		backoff := 250 * time.Millisecond
		for ctx.Err() == nil {
			start := time.Now()
			err := db.follow(ctx, cfg, p)
			if ctx.Err() != nil {
				return nil //nolint:nilerr // stopped: the follower ends without an error
			}
			if opts.OnError != nil && err != nil {
				opts.OnError(p.name, err)
			}
			if time.Since(start) > time.Minute {
				backoff = 250 * time.Millisecond
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, opts.MaxBackoff)
		}
		return nil
	})
	return nil
}

func (db *DB) follow(ctx context.Context, cfg bus.Config, p *projection) error {
	l, err := openLog(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	_, err = db.drive(ctx, l, []*target{newTarget(p, p.name, "")}, db.batchSize, true)
	return err
}

// projectionLag reports, for saga_projection_lag_events, how many records
// of its topics each projection has not applied, from the offsets the read
// model stores and the ends of the logs (as Status does).
func projectionLag(cfg bus.Config, db *DB) metrics.ProjectionLag {
	return func(ctx context.Context) (map[string]int64, error) {
		st, err := Status(ctx, cfg, db)
		if err != nil {
			return nil, err
		}
		out := make(map[string]int64, len(st))
		for _, p := range st {
			out[p.Name] = p.LagEvents
		}
		return out, nil
	}
}
