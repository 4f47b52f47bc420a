package readmodel

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sagaflow/saga/events"
)

// Projection names.
const (
	ProjectionSagas     = "sagas"
	ProjectionBookings  = "bookings"
	ProjectionInventory = "inventory"
	ProjectionRevenue   = "revenue"
)

// nextSuffix names the tables and offsets a rebuild writes to.
const (
	nextSuffix = "_next"
	nextKey    = "#next"
)

// projection is one read model: the topics it folds, the tables it owns
// and how a batch of checked events changes them.
type projection struct {
	name string
	// version changes whenever the tables or the fold change: tables of
	// another version are dropped and replayed.
	version int
	// topics are logical (unprefixed) topic names.
	topics []string
	tables []table
	// raw projections are given every record, checked or not (it.err set):
	// the dead-letter topic holds what failed the check.
	raw bool
	// apply folds a batch of checked events into the tables of b.
	apply func(b *batch, evs []*event) error
	// sharesFolds marks the projections that fold the saga log with the
	// state machine through the batch's memo: they are folded one after
	// the other, the others beside them.
	sharesFolds bool
}

// table is one table of a projection. columns is the body of CREATE TABLE;
// indexes are column lists. key, when set, is the unique key of a table
// the folds only insert into (never upsert), kept by a unique index rather
// than in the table's definition so that a rebuild can build it when it
// swaps the table in, like the other indexes: kept up row by row, an index
// on random keys (saga ids) has most of its pages rewritten by every
// batch.
type table struct {
	name    string
	columns string
	key     string
	indexes []string
}

// view is a query over live tables, recreated after every swap.
type view struct{ name, query string }

// all lists every projection, in the order status reports them.
var all = []*projection{sagasProjection, bookingsProjection, inventoryProjection, revenueProjection, showsProjection, reconcileProjection, dlqProjection,
	timelineProjection}

var views = []view{
	{"user_bookings", `SELECT user_id, booking_ref, status, show_id, seats, amount_cents, started_at, updated_at, saga_id
		FROM bookings WHERE saga_id IS NOT NULL`},
	{"revenue", `SELECT COALESCE(s.show_id, '') AS show_id,
		SUM(p.charged) AS charges,
		SUM(CASE WHEN p.charged = 1 THEN p.charged_cents ELSE 0 END) AS charged_cents,
		SUM(CASE WHEN p.refunded = 1 AND p.refunded_cents > 0 THEN 1 ELSE 0 END) AS refunds,
		SUM(CASE WHEN p.refunded = 1 THEN p.refunded_cents ELSE 0 END) AS refunded_cents
		FROM revenue_payments p LEFT JOIN revenue_shows s ON s.booking_ref = p.booking_ref
		GROUP BY 1`},
}

// Topics lists the logical topics the projections read, each once: a
// rebuild reads them all, so a plain read of them is its yardstick.
func Topics() []string {
	var out []string
	for _, p := range all {
		for _, t := range p.topics {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// Names lists the projections.
func Names() []string {
	out := make([]string, len(all))
	for i, p := range all {
		out[i] = p.name
	}
	return out
}

func lookup(name string) (*projection, error) {
	for _, p := range all {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("readmodel: unknown projection %q (known: %s)", name, strings.Join(Names(), ", "))
}

// selected resolves names; none means every projection.
func selected(names []string) ([]*projection, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []*projection
	for _, n := range names {
		p, err := lookup(n)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func tableExists(ctx context.Context, tx *sql.Tx, name string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	return n > 0, err
}

// createTables creates the tables of p with suffix that do not exist, and
// records key's version. Rebuild tables (suffix nextSuffix) get their
// indexes when they are swapped in: an index built over the whole table
// at once costs less than one kept up row by row.
func createTables(ctx context.Context, tx *sql.Tx, p *projection, key, suffix string, now time.Time) error {
	for _, t := range p.tables {
		name := t.name + suffix
		ok, err := tableExists(ctx, tx, name)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", name, t.columns)); err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		if suffix == nextSuffix {
			continue
		}
		if err := createIndexes(ctx, tx, t, name); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO projection_meta (projection, version, created_at) VALUES (?, ?, ?)
		ON CONFLICT (projection) DO NOTHING`, key, p.version, fmtTime(now))
	return err
}

// createIndexes creates t's key and indexes on the table name, unless
// they exist (they are made together). Index names carry a random token: a
// renamed table keeps its indexes, so names derived from the table alone
// would collide with the next rebuild's.
func createIndexes(ctx context.Context, tx *sql.Tx, t table, name string) error {
	if t.key == "" && len(t.indexes) == 0 {
		return nil
	}
	// sql is NULL for the indexes of PRIMARY KEY and UNIQUE in the table's
	// definition (a key there, in tables made by earlier builds).
	var made, inline int
	if err := tx.QueryRowContext(ctx, `SELECT count(sql), count(*) - count(sql) FROM sqlite_master
		WHERE type = 'index' AND tbl_name = ?`, name).Scan(&made, &inline); err != nil {
		return err
	}
	if made > 0 {
		return nil
	}
	token := randomToken()
	if t.key != "" && inline == 0 {
		q := fmt.Sprintf("CREATE UNIQUE INDEX ix_%s_%s_key ON %s (%s)", t.name, token, name, t.key)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("key of %s: %w", name, err)
		}
	}
	for i, cols := range t.indexes {
		q := fmt.Sprintf("CREATE INDEX ix_%s_%s_%d ON %s (%s)", t.name, token, i, name, cols)
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	return nil
}

// dropTables drops the tables of p with suffix, and key's offsets and
// version.
func dropTables(ctx context.Context, tx *sql.Tx, p *projection, key, suffix string) error {
	if suffix == "" {
		// Views over live tables would stop a later RENAME; createViews
		// puts them back.
		if err := dropViews(ctx, tx); err != nil {
			return err
		}
	}
	for _, t := range p.tables {
		if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+t.name+suffix); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM projection_offsets WHERE projection = ?`, key); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM projection_meta WHERE projection = ?`, key)
	return err
}

func dropViews(ctx context.Context, tx *sql.Tx) error {
	for _, v := range views {
		if _, err := tx.ExecContext(ctx, "DROP VIEW IF EXISTS "+v.name); err != nil {
			return err
		}
	}
	return nil
}

// createViews (re)creates every view over the live tables.
func createViews(ctx context.Context, tx *sql.Tx) error {
	if err := dropViews(ctx, tx); err != nil {
		return err
	}
	for _, v := range views {
		if _, err := tx.ExecContext(ctx, "CREATE VIEW "+v.name+" AS "+v.query); err != nil {
			return fmt.Errorf("create view %s: %w", v.name, err)
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sagaLog and the service logs, as projections name their sources.
var (
	topicSagaLog  = events.TopicSagaLog
	topicBookings = events.DomainTopic(events.ServiceBooking)
	topicPayments = events.DomainTopic(events.ServicePayment)
)
