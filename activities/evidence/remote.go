package evidence

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/algotrendy/rewind/activities/backup"
)

// Remote keeps evidence in a backup store (an S3 bucket, say), so an incident's record
// outlives the Docker host it happened on.
type Remote struct {
	Store backup.Store
	// Spool is a folder on this host where a stream is staged before its upload.
	Spool string
}

// Put stages r in a file, then uploads it; a failed upload leaves the old object or none.
func (r *Remote) Put(ctx context.Context, name string, src io.Reader) error {
	if err := os.MkdirAll(r.Spool, 0o750); err != nil {
		return fmt.Errorf("create spool folder: %w", err)
	}
	f, err := os.CreateTemp(r.Spool, "evidence-*")
	if err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, contextReader{ctx, src}); err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	return r.PutFile(ctx, name, f.Name(), backup.UploadCheckpoint{}, func(backup.UploadCheckpoint) {})
}

// PutFile uploads file, continuing from cp.
func (r *Remote) PutFile(ctx context.Context, name, file string, cp backup.UploadCheckpoint, saved func(backup.UploadCheckpoint)) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("upload %s: %w", name, err)
	}
	return r.Store.Upload(ctx, name, f, st.Size(), cp, saved)
}

// Open reads an object back.
func (r *Remote) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return r.Store.Open(ctx, name, 0)
}

// Size is the object's length.
func (r *Remote) Size(ctx context.Context, name string) (int64, error) {
	o, err := r.Store.Stat(ctx, name)
	return o.Size, err
}

// Location is the object's address.
func (r *Remote) Location(name string) string {
	return strings.TrimRight(r.Store.Describe(), "/") + "/" + name
}
