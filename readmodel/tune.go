package readmodel

import (
	"context"
	"fmt"
)

// rebuildCacheKiB is the write connection's page cache while a rebuild is
// under way: the rebuilt tables are written in random key order (saga ids),
// and a page that leaves the cache is read back for the next batch.
const rebuildCacheKiB = 256 << 10

// startRebuild sets the write connection up for a rebuild until the
// returned func is called. Durability is unchanged (every batch commits
// as before): a rebuild only keeps more pages in memory, and sorts its
// index builds there.
func (db *DB) startRebuild(ctx context.Context) (done func()) {
	db.wmu.Lock()
	db.rebuilds++
	db.wmu.Unlock()
	return func() {
		db.wmu.Lock()
		defer db.wmu.Unlock()
		db.rebuilds--
		if db.wconn != nil {
			// Give the memory back now; failing that, before the next write.
			_ = db.tune(context.WithoutCancel(ctx))
		}
	}
}

// tune makes the write connection's settings match whether a rebuild is
// under way; called under wmu before each write transaction.
func (db *DB) tune(ctx context.Context) error {
	want := db.rebuilds > 0
	if want == db.tuned {
		return nil
	}
	cache, temp := writeCacheKiB, "DEFAULT"
	if want {
		cache, temp = rebuildCacheKiB, "MEMORY"
	}
	for _, q := range []string{fmt.Sprintf("PRAGMA cache_size = -%d", cache), "PRAGMA temp_store = " + temp} {
		if _, err := db.wconn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	db.tuned = want
	return nil
}
