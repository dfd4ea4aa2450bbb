package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Folder is a store in a folder of the worker's host.
type Folder struct {
	Dir string
}

// NewFolder returns the store of dir (made absolute); the folder is created on first write.
func NewFolder(dir string) (*Folder, error) {
	if dir == "" {
		return nil, errors.New("a folder store needs a folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve folder %s: %w", dir, err)
	}
	return &Folder{Dir: abs}, nil
}

// Describe names the folder.
func (s *Folder) Describe() string { return s.Dir }

// Location is the file's path on the worker's host.
func (s *Folder) Location(name string) string {
	p, err := s.path(name)
	if err != nil {
		return name
	}
	return p
}

func (s *Folder) path(name string) (string, error) {
	if name == "" || strings.Contains(name, "..") {
		return "", fmt.Errorf("name %q: want a relative path inside %s", name, s.Dir)
	}
	return filepath.Join(s.Dir, filepath.FromSlash(path.Clean("/"+name))), nil
}

// List walks the folder for names that start with prefix.
func (s *Folder) List(ctx context.Context, prefix string) ([]Object, error) {
	if _, err := os.Stat(s.Dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("folder %s: %w", s.Dir, ErrNotFound)
	}
	var out []Object
	err := filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".part") || strings.HasPrefix(d.Name(), ".put-") {
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
		out = append(out, Object{Name: rel, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.Dir, err)
	}
	return out, nil
}

// Stat describes one file.
func (s *Folder) Stat(_ context.Context, name string) (Object, error) {
	p, err := s.path(name)
	if err != nil {
		return Object{}, err
	}
	info, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("%s in %s: %w", name, s.Dir, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("stat %s: %w", p, err)
	}
	return Object{Name: name, Size: info.Size(), ModTime: info.ModTime()}, nil
}

// Open reads a file from offset on.
func (s *Folder) Open(_ context.Context, name string, offset int64) (io.ReadCloser, error) {
	p, err := s.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s in %s: %w", name, s.Dir, ErrNotFound)
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

// Put writes r to name through a temporary file and a rename: a crash mid-write leaves
// the old file or none.
func (s *Folder) Put(ctx context.Context, name string, r io.Reader) error {
	dst, err := s.mkdirFor(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
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

// Create writes body to a temporary file and hard-links it to name: link(2) fails when
// name exists, atomically, so two workers sharing the folder never both create it, and a
// reader never sees a torn body. Filesystems without hard links use O_EXCL.
func (s *Folder) Create(ctx context.Context, name string, body []byte) error {
	dst, err := s.mkdirFor(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".put-*")
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	err = os.Link(tmp.Name(), dst)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("create %s in %s: %w", name, s.Dir, ErrExists)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s in %s: %w", name, s.Dir, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// PutFile links file into place when both are on one filesystem; otherwise it copies it
// part by part into name.part (the .part file's length is the checkpoint) and renames it
// when whole.
func (s *Folder) PutFile(ctx context.Context, name, file string, _ UploadCheckpoint, saved func(UploadCheckpoint)) error {
	dst, err := s.mkdirFor(name)
	if err != nil {
		return err
	}
	link := filepath.Join(filepath.Dir(dst), ".put-link-"+filepath.Base(dst))
	_ = os.Remove(link)
	if err := os.Link(file, link); err == nil {
		if err := os.Rename(link, dst); err != nil {
			os.Remove(link)
			return fmt.Errorf("store %s: %w", name, err)
		}
		return nil
	}
	src, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	return s.copyResumable(ctx, dst, src, st.Size(), saved)
}

func (s *Folder) copyResumable(ctx context.Context, dst string, src io.ReaderAt, size int64, saved func(UploadCheckpoint)) error {
	part := dst + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", part, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	// Whole synced parts are kept; a torn one is written again.
	var cp UploadCheckpoint
	cp.Offset = min(st.Size(), size) / defaultPartSize * defaultPartSize
	for i := int64(0); i < cp.Offset/defaultPartSize; i++ {
		cp.Parts = append(cp.Parts, Part{Number: int32(i + 1), Size: defaultPartSize})
	}
	if err := f.Truncate(cp.Offset); err != nil {
		return fmt.Errorf("truncate %s to %d: %w", part, cp.Offset, err)
	}
	for cp.Offset < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(defaultPartSize, size-cp.Offset)
		if _, err := io.Copy(io.NewOffsetWriter(f, cp.Offset), io.NewSectionReader(src, cp.Offset, n)); err != nil {
			return fmt.Errorf("write %s: %w", part, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", part, err)
		}
		cp.Offset += n
		cp.Parts = append(cp.Parts, Part{Number: int32(len(cp.Parts) + 1), Size: n})
		saved(cp)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(part, dst); err != nil {
		return fmt.Errorf("store %s: %w", dst, err)
	}
	return nil
}

func (s *Folder) mkdirFor(name string) (string, error) {
	dst, err := s.path(name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", fmt.Errorf("create folder for %s: %w", name, err)
	}
	return dst, nil
}

// contextReader stops a copy when its context ends.
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
