package readmodel

import (
	"path/filepath"
	"sync"
)

// commits wakes the readers of a database file in this process when any
// handle on that file commits a write: the HTTP API answers a waiting
// request when the projections' batch holding the saga's end lands, not
// at its next poll. Writes by other processes are not seen here; readers
// that wait keep polling, less often, for those.
var commits = struct {
	sync.Mutex
	next map[string]chan struct{}
}{next: map[string]chan struct{}{}}

// fileKey names a database file the same way whatever path opened it.
func fileKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return filepath.Clean(abs)
	}
	return filepath.Clean(path)
}

// Changed is closed when a write transaction on this database file next
// commits in this process. Take it before reading, so that a commit
// between the read and the wait is not missed.
func (db *DB) Changed() <-chan struct{} {
	commits.Lock()
	defer commits.Unlock()
	ch, ok := commits.next[db.key]
	if !ok {
		ch = make(chan struct{})
		commits.next[db.key] = ch
	}
	return ch
}

// committed wakes whoever waits on Changed.
func (db *DB) committed() {
	commits.Lock()
	defer commits.Unlock()
	if ch, ok := commits.next[db.key]; ok {
		close(ch)
		delete(commits.next, db.key)
	}
}
