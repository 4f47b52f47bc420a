//go:build unix

package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDataDir takes an exclusive advisory lock on DataDir: two brokers
// appending to the same segments would corrupt them. The kernel drops the
// lock when the process dies, so a kill -9 never leaves it stuck.
func lockDataDir(dir string) (func() error, error) {
	path := filepath.Join(dir, ".saga-broker.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("bus: open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("bus: data dir %s is in use by another embedded broker", dir)
		}
		return nil, fmt.Errorf("bus: lock %s: %w", path, err)
	}
	return f.Close, nil
}
