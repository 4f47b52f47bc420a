package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/demo"
	"github.com/sagaflow/saga/readmodel"
)

var errCrash = errors.New("simulated crash")

// dump renders every table of the database (rows sorted, so that only
// content counts) and the offsets, without the times the bookkeeping
// records and without index names.
func dump(t testing.TB, db *readmodel.DB, suffix string) string {
	t.Helper()
	ctx := context.Background()
	rows, err := db.SQL().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(n, "projection_") || strings.HasSuffix(n, "_next") != (suffix != "") {
			continue
		}
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		fmt.Fprintf(&b, "== %s\n", strings.TrimSuffix(tbl, suffix))
		b.WriteString(strings.Join(queryRows(t, db, "SELECT * FROM "+tbl), "\n"))
		b.WriteString("\n")
	}
	b.WriteString("== offsets\n")
	off := queryRows(t, db, `SELECT replace(projection, '#next', ''), topic, partition, next_offset, applied, skipped
		FROM projection_offsets WHERE (projection LIKE '%#next') = ?`, suffix != "")
	b.WriteString(strings.Join(off, "\n"))
	return b.String()
}

func queryRows(t testing.TB, db *readmodel.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.SQL().Query(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[i] = fmt.Sprint(v)
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out
}

// A batch that fails halfway (after a random number of its records) rolls
// back whole: rows and offsets are as before it, and applying the same
// records again ends exactly where an uninterrupted run ends.
func TestCrashMidBatchAppliesNothingTwice(t *testing.T) {
	s := newSim(t, 7).run(100)
	recs := s.records()
	m := fold(bus.Config{}, recs)
	db := openDB(t)
	rng := rand.New(rand.NewSource(7))
	ctx := context.Background()
	crashes := 0
	for _, name := range readmodel.Names() {
		all := filterTopics(recs, projectionTopics[name]...)
		for len(all) > 0 {
			n := min(1+rng.Intn(200), len(all))
			batch := all[:n]
			if rng.Float64() < 0.4 {
				at := 1 + rng.Intn(n)
				readmodel.SetHook(db, func(key string, i int) error {
					if i >= at {
						return errCrash
					}
					return nil
				})
				before := dump(t, db, "")
				_, err := db.Apply(ctx, bus.Config{}, name, batch)
				readmodel.SetHook(db, nil)
				if err != nil {
					if !errors.Is(err, errCrash) {
						t.Fatal(err)
					}
					crashes++
					if after := dump(t, db, ""); after != before {
						t.Fatalf("%s: a batch that failed after %d records left changes behind", name, at)
					}
				}
			}
			if _, err := db.Apply(ctx, bus.Config{}, name, batch); err != nil {
				t.Fatal(err)
			}
			all = all[n:]
		}
	}
	if crashes < 10 {
		t.Fatalf("only %d batches crashed", crashes)
	}
	assertMatches(t, db, m)
}

// envCrashDB makes the test binary a child that applies the simulated log
// to the database it names and is killed (SIGKILL) in the middle of a
// batch, after the number of records in envCrashAfter.
const (
	envCrashDB    = "READMODEL_CRASH_DB"
	envCrashAfter = "READMODEL_CRASH_AFTER"
	crashSeed     = 11
	crashSagas    = 100
)

// TestCrashChild is the child process of TestKilledMidBatch.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashDB)
	if path == "" {
		t.Skip("child process of TestKilledMidBatch")
	}
	after, _ := strconv.Atoi(os.Getenv(envCrashAfter))
	db, err := readmodel.Open(path, readmodel.WithCatalog(demo.Catalog()))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	readmodel.SetHook(db, func(string, int) error {
		if total++; total >= after {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		return nil
	})
	recs := newSim(t, crashSeed).run(crashSagas).records()
	for _, name := range readmodel.Names() {
		all := filterTopics(recs, projectionTopics[name]...)
		for i := 0; i < len(all); i += 97 {
			if _, err := db.Apply(context.Background(), bus.Config{}, name, all[i:min(i+97, len(all))]); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("not killed")
}

// A process killed with SIGKILL in the middle of a batch (inside its
// SQLite transaction) leaves a database from which applying the whole log
// again gives exactly the fold: nothing applied twice, nothing skipped.
func TestKilledMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	recs := newSim(t, crashSeed).run(crashSagas).records()
	m := fold(bus.Config{}, recs)
	rng := rand.New(rand.NewSource(3))
	for round := range 3 {
		path := filepath.Join(t.TempDir(), readmodel.FileName)
		after := 50 + rng.Intn(len(recs)*2)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashDB+"="+path, envCrashAfter+"="+strconv.Itoa(after))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child was not killed: %v\n%s", round, err, out)
		}
		db, err := readmodel.Open(path, readmodel.WithCatalog(demo.Catalog()))
		if err != nil {
			t.Fatal(err)
		}
		var applied int64
		for _, name := range readmodel.Names() {
			res, err := db.Apply(context.Background(), bus.Config{}, name, filterTopics(recs, projectionTopics[name]...))
			if err != nil {
				t.Fatal(err)
			}
			applied += int64(res.Seen)
		}
		t.Logf("round %d: killed after %d records; %d records had been committed", round, after, applied)
		assertMatches(t, db, m)
		db.Close()
	}
}
