package readmodel

import (
	"context"
	"database/sql"
	"errors"
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
func Rebuild(ctx context.Context, cfg bus.Config, db *DB, names ...string) ([]RebuildResult, error) {
	ps, err := selected(names)
	if err != nil {
		return nil, err
	}
	results := make([]RebuildResult, len(ps))
	index := map[*projection]int{}
	for i, p := range ps {
		index[p] = i
	}
	err = each(ps, func(p *projection) error {
		l, err := openLog(ctx, cfg)
		if err != nil {
			return err
		}
		defer l.Close()
		r, err := db.rebuild(ctx, l, p)
		results[index[p]] = r
		return err
	})
	return results, err
}

func (db *DB) rebuild(ctx context.Context, l *kafkaLog, p *projection) (RebuildResult, error) {
	res := RebuildResult{Projection: p.name}
	start := time.Now()
	key := p.name + nextKey
	err := db.write(ctx, func(tx *sql.Tx) error {
		var version int
		err := tx.QueryRowContext(ctx, `SELECT version FROM projection_meta WHERE projection = ?`, key).Scan(&version)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case version == p.version:
			res.Resumed = true
		default:
			// Left by another version of the fold: start again.
			if err := dropTables(ctx, tx, p, key, nextSuffix); err != nil {
				return err
			}
		}
		return createTables(ctx, tx, p, key, nextSuffix, db.now())
	})
	if err != nil {
		return res, err
	}
	for pass := 0; pass < maxRebuildPasses; pass++ {
		n, err := db.drive(ctx, l, p, key, nextSuffix, false)
		res.Records += n
		if err != nil {
			return res, err
		}
		if n < db.batchSize {
			break
		}
	}
	if db.beforeSwap != nil {
		db.beforeSwap(p.name)
	}
	res.Swapped, err = db.swap(ctx, p)
	res.Duration = time.Since(start)
	if s := res.Duration.Seconds(); s > 0 {
		res.RecordsPerSecond = float64(res.Records) / s
	}
	return res, err
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
