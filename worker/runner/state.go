package runner

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// PruneState removes checkpoints, staged snapshots and downloads older than age from the
// state folder: what finished rollbacks left behind. It returns how many files went.
func PruneState(dir string, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	removed := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(cutoff) {
			if err := os.Remove(path); err == nil {
				removed++
			}
		}
		return nil
	})
	return removed, err
}
