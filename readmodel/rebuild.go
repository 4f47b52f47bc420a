package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sagaflow/saga/bus"
)

// RebuildResult says what one projection's rebuild did.
type RebuildResult struct {
	Projection string `json:"projection"`
	// Resumed is true when an earlier rebuild that did not finish was
	// carried on from its own offsets.
	Resumed bool `json:"resumed"`
	// Records is how many records this run read; Duration how long it
	// took to read and apply them (swap included).
	Records          int           `json:"records"`
	Duration         time.Duration `json:"duration_ns"`
	RecordsPerSecond float64       `json:"records_per_second"`
	// Swapped is false when another rebuild of the same projection swapped
	// its tables in first (ours then had nothing left to do).
	Swapped bool `json:"swapped"`
}

// maxRebuildPasses bounds the catch-up passes before the swap: each pass
// reads to the end the log had when it began; the live projection's runner
// takes over whatever arrives after the swap.
const maxRebuildPasses = 3

// Rebuild replays the named projections (every one when none is named)
// from offset zero into fresh tables while the live ones keep answering,
// then swaps each in one transaction: the live tables and offsets are
// dropped and the new ones take their names. A rebuild that was killed is
// resumed from its own offsets when run again, with the same result.
//
// The projections are replayed together: each partition of their topics
// is read once, each record checked once, and each batch is one
// transaction for all of them (SQLite has one writer).
func Rebuild(ctx context.Context, cfg bus.Config, db *DB, names ...string) ([]RebuildResult, error) {
	ps, err := selected(names)
	if err != nil {
		return nil, err
	}
	defer db.startRebuild(ctx)()
	start := time.Now()
	results := make([]RebuildResult, len(ps))
	ts := make([]*target, len(ps))
	for i, p := range ps {
		results[i].Projection = p.name
		if results[i].Resumed, err = db.beginRebuild(ctx, p); err != nil {
			return results, fmt.Errorf("projection %s: %w", p.name, err)
		}
		ts[i] = newTarget(p, p.name+nextKey, nextSuffix)
	}
	l, err := openLog(ctx, cfg)
	if err != nil {
		return results, err
	}
	defer l.Close()
	done := func() {
		for i, t := range ts {
			results[i].Records = t.read
			results[i].Duration = time.Since(start)
			if s := results[i].Duration.Seconds(); s > 0 {
				results[i].RecordsPerSecond = float64(t.read) / s
			}
		}
	}
	// Projections whose fold failed, each with its error, as if each had
	// been rebuilt alone.
	failed := func() (errs []error, all bool) {
		all = true
		for i, t := range ts {
			if t.err != nil {
				errs = append(errs, fmt.Errorf("projection %s: %w", ps[i].name, t.err))
			} else {
				all = false
			}
		}
		return errs, all
	}
	size := db.rebuildBatch
	for pass := 0; pass < maxRebuildPasses; pass++ {
		n, err := db.drive(ctx, l, ts, size, false)
		if err != nil {
			done()
			errs, all := failed()
			if !all {
				errs = append(errs, err) // not a fold's: every projection stopped
			}
			return results, errors.Join(errs...)
		}
		if n < size {
			break
		}
	}
	errs, _ := failed()
	for i, p := range ps {
		if ts[i].err != nil {
			continue
		}
		if db.beforeSwap != nil {
			db.beforeSwap(p.name)
		}
		if results[i].Swapped, err = db.swap(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("projection %s: %w", p.name, err))
		}
	}
	done()
	return results, errors.Join(errs...)
}

// beginRebuild makes p's rebuild tables, or keeps those of an unfinished
// rebuild of the same version (resumed).
func (db *DB) beginRebuild(ctx context.Context, p *projection) (resumed bool, err error) {
	key := p.name + nextKey
	err = db.write(ctx, func(tx *sql.Tx) error {
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM projection_meta WHERE projection = ?`, key).Scan(&version)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case version == p.version:
			resumed = true
		default:
			// Left by another version of the fold: start again.
			if err := dropTables(ctx, tx, p, key, nextSuffix); err != nil {
				return err
			}
		}
		return createTables(ctx, tx, p, key, nextSuffix, db.now())
	})
	return resumed, err
}

// swap replaces p's live tables and offsets with the rebuilt ones, in one
// transaction: readers see the old tables or the new, never a mix.
func (db *DB) swap(ctx context.Context, p *projection) (bool, error) {
	key := p.name + nextKey
	swapped := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM projection_meta WHERE projection = ?`, key).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil // another rebuild swapped first
		}
		if err := dropTables(ctx, tx, p, p.name, ""); err != nil {
			return err
		}
		for _, t := range p.tables {
			if err := createIndexes(ctx, tx, t, t.name+nextSuffix); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "ALTER TABLE "+t.name+nextSuffix+" RENAME TO "+t.name); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projection_offsets SET projection = ? WHERE projection = ?`, p.name, key); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE projection_meta SET projection = ?, created_at = ? WHERE projection = ?`,
			p.name, fmtTime(db.now()), key); err != nil {
			return err
		}
		swapped = true
		return createViews(ctx, tx)
	})
	return swapped, err
}
