package runner

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/holds"
)

// PruneState removes checkpoints, staged snapshots and downloads older than age from the
// state folder: what finished rollbacks left behind. It returns how many files went. The
// host's records (verdicts, drills, holds) are kept whatever their age: a backup proven a
// month ago is still proven, and a hold is let go, not forgotten.
func PruneState(dir string, age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	kept := []string{filepath.Base(backups.VerdictsDir(dir)), filepath.Base(backups.DrillsDir(dir)), filepath.Base(holds.Dir(dir))}
	removed := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && slices.Contains(kept, filepath.Base(path)) && filepath.Dir(path) == filepath.Clean(dir) {
				return filepath.SkipDir
			}
			return nil
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
