package webhook

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// touchPrivate creates the store's file 0600 before SQLite opens it, so
// its secrets are never readable by others, not even for a moment.
func touchPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
