// Package evidence keeps what an incident leaves behind (state captures, logs, notices, the
// report) under incidents/YYYYMMDD/<workflow id>/ in an evidence store.
package evidence

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/algotrendy/rewind/activities/backup"
)

// Store is where evidence is written. Writes replace whole files, so a retried activity
// leaves the same evidence as one that ran once.
type Store interface {
	Put(ctx context.Context, name string, r io.Reader) error
	// PutFile stores a finished file of this host (a forensic snapshot). A store that
	// uploads continues from cp and hands each durably stored part to saved, so a retry
	// after a crash sends at most one part again.
	PutFile(ctx context.Context, name, file string, cp backup.UploadCheckpoint, saved func(backup.UploadCheckpoint)) error
	// Open reads a stored file back, to check what was written.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Size is the stored file's length.
	Size(ctx context.Context, name string) (int64, error)
	// Location says where name ends up, for people reading the incident.
	Location(name string) string
}

// Prefix is the folder of one incident's evidence.
func Prefix(day, workflowID string) string {
	return path.Join("incidents", day, workflowID)
}

// Local is an evidence store in a folder on the worker's host.
type Local struct {
	Dir string
}

// NewLocal returns a store rooted at dir, creating it when missing.
func NewLocal(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create evidence folder %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve evidence folder %s: %w", dir, err)
	}
	return &Local{Dir: abs}, nil
}

// Put writes r to name atomically: a crash mid-write leaves the old file or none.
func (l *Local) Put(ctx context.Context, name string, r io.Reader) error {
	dst, err := l.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("create folder for %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".part-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, contextReader{ctx, r}); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return nil
}

// PutFile links file into place when both are on one filesystem, else copies it; either
// way the name appears whole or not at all.
func (l *Local) PutFile(ctx context.Context, name, file string, _ backup.UploadCheckpoint, _ func(backup.UploadCheckpoint)) error {
	dst, err := l.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("create folder for %s: %w", name, err)
	}
	tmp := filepath.Join(filepath.Dir(dst), ".link-"+filepath.Base(dst))
	_ = os.Remove(tmp)
	if err := os.Link(file, tmp); err == nil {
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("store %s: %w", name, err)
		}
		return nil
	}
	src, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	defer src.Close()
	return l.Put(ctx, name, src)
}

// Open reads a stored file.
func (l *Local) Open(_ context.Context, name string) (io.ReadCloser, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open evidence %s: %w", name, err)
	}
	return f, nil
}

// Size is the stored file's length.
func (l *Local) Size(_ context.Context, name string) (int64, error) {
	p, err := l.path(name)
	if err != nil {
		return 0, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("stat evidence %s: %w", name, err)
	}
	return st.Size(), nil
}

// Location is the file's path on the worker's host.
func (l *Local) Location(name string) string {
	p, err := l.path(name)
	if err != nil {
		return name
	}
	return p
}

func (l *Local) path(name string) (string, error) {
	clean := path.Clean("/" + name)
	if clean == "/" || strings.Contains(name, "..") {
		return "", fmt.Errorf("evidence name %q: want a relative path inside the evidence store", name)
	}
	return filepath.Join(l.Dir, filepath.FromSlash(clean)), nil
}

type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
