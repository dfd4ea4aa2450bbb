// Package backup finds, verifies and moves the stack's database backups
// (questdb_backup_YYYYMMDD_HHMMSS.tar.gz with `sha256sum` sidecars) in a local folder or S3,
// over one small storage interface with a package per backend.
package backup

import (
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/algotrendy/rewind/storage"
)

var stampInName = regexp.MustCompile(`(\d{8})_(\d{6})`)

// stamp reads the time in a backup's name (questdb_backup_20251019_020000.tar.gz).
func stamp(name string) (time.Time, bool) {
	m := stampInName.FindStringSubmatch(path.Base(name))
	if m == nil {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102150405", m[1]+m[2])
	return t, err == nil
}

// NewestFirst orders backups by the time in their names, then by modification time, as
// the runbook's `ls -t` means to.
func NewestFirst(objs []storage.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		ti, oki := stamp(objs[i].Name)
		tj, okj := stamp(objs[j].Name)
		switch {
		case oki && okj && !ti.Equal(tj):
			return ti.After(tj)
		case oki != okj:
			return oki
		}
		return objs[i].ModTime.After(objs[j].ModTime)
	})
}

// Match reports whether a name fits the stack's backup pattern (like questdb_backup_*.tar.gz).
func Match(pattern, name string) bool {
	ok, err := path.Match(pattern, path.Base(name))
	return err == nil && ok
}
