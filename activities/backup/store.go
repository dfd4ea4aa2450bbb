// Package backup finds, verifies and moves the stack's database backups
// (questdb_backup_YYYYMMDD_HHMMSS.tar.gz with `sha256sum` sidecars) in a local folder or S3,
// over one small storage interface with a package per backend.
package backup

import (
	"context"
	"errors"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Object is one stored file.
type Object struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// Part is one finished part of a resumable upload.
type Part struct {
	Number int32
	ETag   string
	Size   int64
}

// UploadCheckpoint is how far an upload got; a retry continues from it. It holds no secret.
type UploadCheckpoint struct {
	UploadID string
	Parts    []Part
	// Offset is the number of source bytes stored so far.
	Offset int64
}

// Store is a place backups and evidence live.
type Store interface {
	// Describe names the store for messages, like "s3://bucket/prefix" or "/backups".
	Describe() string
	// List returns every object whose name (relative to the store) starts with prefix.
	List(ctx context.Context, prefix string) ([]Object, error)
	Stat(ctx context.Context, name string) (Object, error)
	// Open reads an object from offset on.
	Open(ctx context.Context, name string, offset int64) (io.ReadCloser, error)
	// Upload stores size bytes of src under name, continuing from cp; it calls saved after
	// every part that is durably stored, so the caller can checkpoint.
	Upload(ctx context.Context, name string, src io.ReaderAt, size int64, cp UploadCheckpoint, saved func(UploadCheckpoint)) error
}

// ErrNotFound is returned (wrapped) by stores for a missing object.
var ErrNotFound = errors.New("not found")

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
func NewestFirst(objs []Object) {
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

// SidecarName is the checksum file beside a backup: questdb_backup_X.tar.gz → questdb_backup_X.sha256.
func SidecarName(name string) string {
	return strings.TrimSuffix(name, ".tar.gz") + ".sha256"
}
