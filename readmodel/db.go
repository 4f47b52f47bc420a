// Package readmodel keeps the read models of the logs in an embedded SQL
// database (pure-Go SQLite, one file under the data directory): bookings by
// reference with their timeline, sagas by status, seat inventory per show,
// bookings per user and revenue per show.
//
// Each projection is a fold of one or more Kafka topics. It applies records
// in batches, and every batch is one SQLite transaction that holds both the
// rows the records produced and the projection's next offset per partition.
// A crash at any point leaves either the whole batch (rows and offsets) or
// none of it, so no record is applied twice and none is skipped. Records at
// offsets below a projection's stored offsets are ignored, which also makes
// two readers of the same projection (a running system and a CLI catching
// up) harmless to each other.
//
// Rebuild replays a projection from offset zero into fresh tables (suffix
// "_next", offsets under "NAME#next") while the live tables keep answering,
// then swaps them in one transaction. A rebuild killed halfway resumes from
// its own offsets when run again and ends with the same tables.
//
// The folds are those of package projections wherever one exists (the saga
// state machine's Fold for sagas and bookings, the rules of
// projections.Inventory and of the Reconciler's money), and the tests check
// that every table equals the pure fold of the same records.
package readmodel

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/sagaflow/saga/participants/catalog"
)

// FileName is the read-model database's file name under the data directory.
const FileName = "readmodel.db"

// DefaultBatchSize is how many records one transaction applies at most.
const DefaultBatchSize = 2000

// DefaultRebuildBatchSize is how many records one transaction of a rebuild
// applies at most: a rebuild has no reader waiting for its rows, and
// larger transactions write each changed row less often.
const DefaultRebuildBatchSize = 20000

// writeCacheKiB is the page cache of the connection that writes.
const writeCacheKiB = 64 << 10

// walCheckpointPages is how many pages the WAL grows to before the writer
// copies it into the database (32 MiB of 4 KiB pages).
const walCheckpointPages = 8192

// busyTimeout is how long a writer waits for another process's write
// transaction (a running system and a CLI rebuild share the file).
const busyTimeout = 30 * time.Second

// DB is an open read-model database.
type DB struct {
	sql  *sql.DB
	path string
	// key names the file for Changed, whatever path opened it.
	key string
	// catalog has the shows there are before the logs list any.
	catalog catalog.Catalog
	// wmu serialises this process's write transactions; other processes
	// queue on SQLite's lock (BEGIN IMMEDIATE with a busy timeout).
	wmu sync.Mutex
	// wconn is the connection every write transaction of this process
	// uses (under wmu), so that its page cache stays warm between them.
	wconn *sql.Conn
	// rebuilds counts the rebuilds under way (under wmu), tuned what
	// wconn is set up for: see tune.
	rebuilds     int
	tuned        bool
	batchSize    int
	rebuildBatch int
	now          func() time.Time
	// hook, when set (tests), is called after each record a batch applies;
	// an error aborts the batch as a crash would.
	hook func(key string, n int) error
	// beforeSwap, when set (tests), is called after a rebuild has caught
	// up and before it swaps its tables in.
	beforeSwap func(projection string)
	// definitions are the versions read from saga_definitions when the
	// file was opened; a version met since is stored once per batch, and
	// the table keeps its first.
	definitions sync.Map
}

// Option changes how Open sets up a DB.
type Option func(*DB)

// WithCatalog gives the shows there are before the logs list any (the
// demo's, say); without it only listed shows are known.
func WithCatalog(c catalog.Catalog) Option { return func(db *DB) { db.catalog = c } }

// Open opens (creating if needed) the database at path, in WAL mode so that
// readers never wait for the projections' writers, and makes sure every
// projection's tables and views exist.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// In WAL mode NORMAL loses at most the last transactions on a power
	// failure, never consistency: rows and offsets go back together.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	// Writers take the write lock when they begin, so the busy timeout
	// applies instead of a deadlock error on lock upgrade.
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("readmodel: open %s: %w", path, err)
	}
	db := &DB{sql: sqldb, path: path, key: fileKey(path), catalog: catalog.Empty{}, batchSize: DefaultBatchSize, rebuildBatch: DefaultRebuildBatchSize, now: time.Now}
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("readmodel: open %s: %w", path, err)
	}
	if err := db.knowDefinitions(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("readmodel: open %s: %w", path, err)
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.wmu.Lock()
	if db.wconn != nil {
		db.wconn.Close()
		db.wconn = nil
	}
	db.wmu.Unlock()
	return db.sql.Close()
}

// Path is the database file.
func (db *DB) Path() string { return db.path }

// SQL is the underlying database, for ad-hoc read queries.
func (db *DB) SQL() *sql.DB { return db.sql }

// SetBatchSize sets how many records one transaction applies at most,
// rebuilds included (default DefaultBatchSize, and DefaultRebuildBatchSize
// for rebuilds).
func (db *DB) SetBatchSize(n int) {
	if n < 1 {
		n = 1
	}
	db.batchSize, db.rebuildBatch = n, n
}

// write runs fn in one write transaction.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if db.wconn == nil {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			return err
		}
		// Batches write thousands of rows: with SQLite's default cache
		// (2 MB) a transaction spills pages to the WAL before it commits.
		// Checkpoints (copying the WAL into the database, with an fsync)
		// every walCheckpointPages rather than SQLite's 1000: a page that
		// changes in several batches is then copied once.
		for _, q := range []string{fmt.Sprintf("PRAGMA cache_size = -%d", writeCacheKiB),
			fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walCheckpointPages)} {
			if _, err := c.ExecContext(ctx, q); err != nil {
				c.Close()
				return err
			}
		}
		db.wconn, db.tuned = c, false
	}
	if err := db.tune(ctx); err != nil {
		return err
	}
	tx, err := db.wconn.BeginTx(ctx, nil)
	if err != nil {
		if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
			db.wconn.Close()
			db.wconn = nil
		}
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	db.committed()
	return nil
}

// read runs fn in one read transaction: a consistent snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // read only
	return fn(tx)
}

const bookkeeping = `
CREATE TABLE IF NOT EXISTS projection_offsets (
	projection     TEXT    NOT NULL,
	topic          TEXT    NOT NULL,
	partition      INTEGER NOT NULL,
	next_offset    INTEGER NOT NULL,
	applied        INTEGER NOT NULL DEFAULT 0,
	skipped        INTEGER NOT NULL DEFAULT 0,
	last_record_at TEXT,
	updated_at     TEXT    NOT NULL,
	PRIMARY KEY (projection, topic, partition)
);
CREATE TABLE IF NOT EXISTS projection_meta (
	projection TEXT PRIMARY KEY,
	version    INTEGER NOT NULL,
	created_at TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS saga_definitions (
	version TEXT PRIMARY KEY,
	spec    TEXT NOT NULL
);`

// migrate creates what is missing. A projection whose tables were made by
// another version of its fold is dropped and recreated empty: its runner
// then replays the log into it (read models are disposable).
func (db *DB) migrate(ctx context.Context) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, bookkeeping); err != nil {
			return err
		}
		for _, p := range all {
			var version int
			err := tx.QueryRowContext(ctx, `SELECT version FROM projection_meta WHERE projection = ?`, p.name).Scan(&version)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			case version != p.version:
				if err := dropTables(ctx, tx, p, p.name, ""); err != nil {
					return err
				}
			}
			if err := createTables(ctx, tx, p, p.name, "", db.now()); err != nil {
				return err
			}
		}
		return createViews(ctx, tx)
	})
}

// timeLayout is RFC 3339 in UTC with a fixed nine-digit fraction, so that
// times sort as text (years 0000-9999, which is what the logs can hold).
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(timeLayout)
	}
	// t.Format(timeLayout), written out: the folds format every event's time.
	hour, min, sec := t.Clock()
	var b [len(timeLayout)]byte
	digits := func(at, n, v int) {
		for i := at + n - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	digits(0, 4, year)
	b[4] = '-'
	digits(5, 2, int(month))
	b[7] = '-'
	digits(8, 2, day)
	b[10] = 'T'
	digits(11, 2, hour)
	b[13] = ':'
	digits(14, 2, min)
	b[16] = ':'
	digits(17, 2, sec)
	b[19] = '.'
	digits(20, 9, t.Nanosecond())
	b[29] = 'Z'
	return string(b[:])
}

func parseTime(s sql.NullString) time.Time {
	if !s.Valid || s.String == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
