package readmodel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A commit on one handle wakes whoever waits on Changed of another handle
// on the same file, opened by another spelling of its path; a rolled-back
// write wakes nobody.
func TestChangedWakesOnCommitOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, filepath.Join(dir, "readmodel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b, err := Open(ctx, filepath.Join(dir, "sub", "..", "readmodel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	ch := b.Changed()
	if err := a.write(ctx, func(*sql.Tx) error { return errors.New("refused") }); err == nil {
		t.Fatal("a failing write reported success")
	}
	select {
	case <-ch:
		t.Fatal("a rolled-back write woke the waiter")
	default:
	}
	if err := a.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sagas VALUES ('s1', 'BK-1', 'book-ticket', 'running', 'VerifyUser', 'alice', '', 1, NULL, 'SagaStarted', NULL, '', '', '{}')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("a commit did not wake the waiter")
	}
	if b.Changed() == ch {
		t.Fatal("Changed after a commit is the channel already closed")
	}
}

// SagaStatuses answers for many sagas at once, across its chunks, with
// each saga's status and event count; sagas it does not hold are absent.
func TestSagaStatusesAcrossChunks(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "readmodel.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	const n = 1203 // three chunks
	statuses := []string{"running", "completed", "compensated", "failed"}
	var ids []string
	if err := db.write(ctx, func(tx *sql.Tx) error {
		for i := range n {
			id := fmt.Sprintf("saga-%04d", i)
			ids = append(ids, id)
			if _, err := tx.ExecContext(ctx, `INSERT INTO sagas VALUES (?, 'BK', 'book-ticket', ?, '', 'alice', '', 1, NULL, 'x', NULL, '', '', '{}')`,
				id, statuses[i%len(statuses)]); err != nil {
				return err
			}
			for seq := range i % 5 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO saga_events VALUES (?, ?, 'x', '', NULL)`, id, seq); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := db.SagaStatuses(ctx, append(ids, "no-such-saga"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d sagas answered, want %d", len(got), n)
	}
	if _, ok := got["no-such-saga"]; ok {
		t.Error("a saga the read model does not hold is answered")
	}
	for i, id := range ids {
		if g, want := got[id], (SagaEnd{Status: statuses[i%len(statuses)], Events: i % 5}); g != want {
			t.Fatalf("%s: SagaStatuses says %+v, the rows say %+v", id, g, want)
		}
	}
}
