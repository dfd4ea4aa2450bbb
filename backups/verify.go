package backups

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/storage"
)

// Check names one backup and the rules it must pass.
type Check struct {
	Name            string
	RequireChecksum bool
	// Layout is where the volume's files sit in the backup (auto, runbook, flat, strip:N).
	Layout archive.LayoutName
	// MaxBytes refuses archives that unpack to more; 0: 64 GiB.
	MaxBytes int64
}

// Verified is a backup that passed: its hash, and what checking it found.
type Verified struct {
	Name    string
	Size    int64
	SHA256  string
	Sidecar string // "match" or "missing"
	Entries int
	Bytes   int64
}

// Verify checks a backup as the runbook does, in one read: the sidecar's sha256
// (`sha256sum -c`) and a full read of gzip and tar (`tar -tzf`), with every entry checked
// by the same rules a restore applies. What the backup itself gets wrong is a
// non-retryable error whose message says what.
func Verify(ctx context.Context, s storage.Store, c Check) (Verified, error) {
	bad := func(kind, format string, args ...any) error {
		msg := fmt.Sprintf("backup %s in %s: ", c.Name, s.Describe()) + fmt.Sprintf(format, args...)
		return temporal.NewNonRetryableApplicationError(msg, kind, nil)
	}
	layout, err := c.Layout.Parse()
	if err != nil {
		return Verified{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, err)
	}
	v := Verified{Name: c.Name, Sidecar: "missing"}
	want, _, err := readSidecar(ctx, s, c.Name)
	switch {
	case errors.Is(err, storage.ErrNotFound) && c.RequireChecksum:
		return Verified{}, bad(failure.MissingChecksum, "no %s sidecar, and the stack sets require_checksum", path.Base(SidecarName(c.Name)))
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return Verified{}, err
	}
	r, err := s.Open(ctx, c.Name, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return Verified{}, bad(failure.CorruptBackup, "it is gone")
	}
	if err != nil {
		return Verified{}, err
	}
	defer r.Close()
	hash := sha256.New()
	read := &heartbeat.Reader{R: io.TeeReader(r, hash), Ctx: ctx, Beat: func(n int64) { heartbeat.Beat(ctx, fmt.Sprintf("%s of %s read", meter.MiB(n), c.Name)) }}
	sum, err := archive.Walk(ctx, read, archive.WalkOptions{Layout: layout, Limits: archive.Limits{MaxBytes: c.MaxBytes}}, nil)
	if kind := archive.ErrorType(err); kind != "" {
		return Verified{}, bad(kind, "%v", err)
	}
	if err != nil {
		return Verified{}, err
	}
	if _, err := io.Copy(io.Discard, read); err != nil {
		return Verified{}, fmt.Errorf("read backup %s: %w", c.Name, err)
	}
	v.Size, v.SHA256, v.Entries, v.Bytes = read.N(), hex.EncodeToString(hash.Sum(nil)), sum.Entries, sum.Bytes
	if want != "" {
		if want != v.SHA256 {
			return Verified{}, bad(failure.ChecksumMismatch, "sha256 is %s, its sidecar says %s", v.SHA256, want)
		}
		v.Sidecar = "match"
	}
	return v, nil
}
