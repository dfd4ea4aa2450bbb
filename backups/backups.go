// Package backups knows a stack's database backups as the runbook names them
// (questdb_backup_YYYYMMDD_HHMMSS.tar.gz with `sha256sum` sidecars) in any store: which
// files are backups, newest first, with their sidecars; reading one whole as a rollback
// checks it; and the verdicts each host keeps on what it read. It registers nothing: the
// backup activities, the volume restore and the `rewind` CLI all use it.
package backups

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
