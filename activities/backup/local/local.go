// Package local is the backup store in a folder on the worker's host.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/algotrendy/rewind/activities/backup"
)

// Store is a folder of backups.
type Store struct {
	Dir string
}

// New returns a store of the folder dir.
func New(dir string) *Store { return &Store{Dir: dir} }

// Describe names the folder.
func (s *Store) Describe() string { return s.Dir }

func (s *Store) path(name string) (string, error) {
	clean := filepath.Clean("/" + name)
	if name == "" || strings.Contains(name, "..") {
		return "", fmt.Errorf("name %q: want a relative path inside %s", name, s.Dir)
	}
	return filepath.Join(s.Dir, clean), nil
}

// List walks the folder for names that start with prefix.
func (s *Store) List(ctx context.Context, prefix string) ([]backup.Object, error) {
	if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup folder %s: %w", s.Dir, backup.ErrNotFound)
	}
	var out []backup.Object
	err := filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".part") {
			return nil
		}
		rel, _ := filepath.Rel(s.Dir, p)
		rel = filepath.ToSlash(rel)
		if !strings.HasPrefix(rel, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, backup.Object{Name: rel, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", s.Dir, err)
	}
	return out, nil
}

// Stat describes one file.
func (s *Store) Stat(_ context.Context, name string) (backup.Object, error) {
	p, err := s.path(name)
	if err != nil {
		return backup.Object{}, err
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return backup.Object{}, fmt.Errorf("%s in %s: %w", name, s.Dir, backup.ErrNotFound)
	}
	if err != nil {
		return backup.Object{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return backup.Object{Name: name, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Open reads a file from offset on.
func (s *Store) Open(_ context.Context, name string, offset int64) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", name, s.Dir, backup.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek %s to %d: %w", p, offset, err)
	}
	return f, nil
}

// partSize is how much an upload writes between checkpoints.
const partSize = 16 << 20

// Upload appends to name.part from the checkpoint's offset and renames it when whole.
func (s *Store) Upload(ctx context.Context, name string, src io.ReaderAt, size int64, cp backup.UploadCheckpoint, saved func(backup.UploadCheckpoint)) error {
	p, err := s.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("create folder for %s: %w", name, err)
	}
	part := p + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", part, err)
	}
	defer f.Close()
	// The .part file is the checkpoint: whole synced parts are kept, a torn one is rewritten.
	st, err := f.Stat()
	if err != nil {
		return err
	}
	cp.Offset = min(st.Size(), size) / partSize * partSize
	cp.Parts = nil
	for i := int64(0); i < cp.Offset/partSize; i++ {
		cp.Parts = append(cp.Parts, backup.Part{Number: int32(i + 1), Size: partSize})
	}
	if err := f.Truncate(cp.Offset); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", part, cp.Offset, err)
	}
	for cp.Offset < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(partSize, size-cp.Offset)
		if _, err := io.Copy(io.NewOffsetWriter(f, cp.Offset), io.NewSectionReader(src, cp.Offset, n)); err != nil {
			return fmt.Errorf("write %s: %w", part, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", part, err)
		}
		cp.Offset += n
		cp.Parts = append(cp.Parts, backup.Part{Number: int32(len(cp.Parts) + 1), Size: n})
		saved(cp)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, p); err != nil {
		return fmt.Errorf("store %s: %w", p, err)
	}
	return nil
}
