//go:build chaos

package chaos

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/readmodel"
)

// checkRebuild projects the logs of a chaos run into a fresh read model,
// rebuilds it from offset zero, and reports a difference between the two,
// row for row, and how many rows it compared.
func checkRebuild(ctx context.Context, cfg bus.Config, dir string) (int, error) {
	db, err := readmodel.Open(context.Background(), filepath.Join(dir, readmodel.FileName))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := readmodel.CatchUp(ctx, cfg, db); err != nil {
		return 0, fmt.Errorf("catch up: %w", err)
	}
	before, rows, err := dumpTables(ctx, db.SQL())
	if err != nil {
		return 0, err
	}
	if _, err := readmodel.Rebuild(ctx, cfg, db); err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	after, _, err := dumpTables(ctx, db.SQL())
	if err != nil {
		return 0, err
	}
	if before != after {
		return rows, fmt.Errorf("the rebuilt read model differs from the one projected live:\nlive:    %s\nrebuilt: %s", before, after)
	}
	return rows, nil
}

// dumpTables digests every read-model table (not the offsets) row by row.
func dumpTables(ctx context.Context, db *sql.DB) (string, int, error) {
	names, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%_next' AND name NOT LIKE '%offset%' AND name NOT LIKE '%meta%' ORDER BY name`)
	if err != nil {
		return "", 0, err
	}
	var tables []string
	for names.Next() {
		var n string
		if err := names.Scan(&n); err != nil {
			return "", 0, err
		}
		tables = append(tables, n)
	}
	names.Close()
	var out []string
	total := 0
	for _, tbl := range tables {
		rows, err := db.QueryContext(ctx, "SELECT * FROM "+tbl)
		if err != nil {
			return "", 0, err
		}
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", 0, err
			}
			lines = append(lines, fmt.Sprint(vals...))
		}
		rows.Close()
		sort.Strings(lines)
		total += len(lines)
		out = append(out, fmt.Sprintf("%s=%d:%x", tbl, len(lines), sha256.Sum256([]byte(strings.Join(lines, "\n"))))[:len(tbl)+20])
	}
	return strings.Join(out, " "), total, nil
}
