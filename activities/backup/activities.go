package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/storage"
)

// Activities find, verify and move backups. The workflow passes only names and places;
// credentials stay with the worker.
type Activities struct {
	// Downloads is the folder on this host where backups from remote stores are put.
	Downloads string
}

func (a *Activities) store(ctx context.Context, l storage.Location) (storage.Store, error) {
	s, err := storage.Open(ctx, l)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup store %s: %v", l, err), failure.StoreConfig, err)
	}
	return s, nil
}

// ListInput says where to look and which files are backups.
type ListInput struct {
	Location storage.Location
	Pattern  string
	// Limit is how many to return, newest first; 0: all.
	Limit int
	// Checksums reads each backup's sidecar and fingerprint too.
	Checksums bool
	// Only keeps the backup of this name (a pinned one); it must exist.
	Only string `json:",omitempty"`
}

// Listed is one backup, with its recorded checksum when asked for.
type Listed struct {
	storage.Object
	// SHA256 is what its sidecar records; "" without one.
	SHA256 string `json:",omitempty"`
	// Sidecar names the checksum file, "" without one.
	Sidecar string `json:",omitempty"`
	// Fingerprint is the data fingerprint recorded when the backup was made, if any.
	Fingerprint string `json:",omitempty"`
}

// ListBackups returns the backups newest first (the runbook's `ls -t ... | head`).
func (a *Activities) ListBackups(ctx context.Context, in ListInput) ([]Listed, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return nil, err
	}
	objs, err := list(ctx, s, in)
	if err != nil {
		return nil, err
	}
	if in.Only != "" {
		objs = slices.DeleteFunc(objs, func(o storage.Object) bool { return o.Name != in.Only && path.Base(o.Name) != in.Only })
		if len(objs) == 0 {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("no backup %s matching %s in %s; `rewind backups` lists them", in.Only, in.Pattern, s.Describe()), failure.NoGoodBackup, nil)
		}
	}
	out := make([]Listed, len(objs))
	for i, o := range objs {
		out[i] = Listed{Object: o}
		if !in.Checksums {
			continue
		}
		sum, sidecar, err := readSidecar(ctx, s, o.Name)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		out[i].SHA256, out[i].Sidecar = sum, sidecar
		if fp, err := readSmall(ctx, s, FingerprintName(o.Name)); err == nil {
			out[i].Fingerprint = strings.TrimSpace(fp)
		}
	}
	return out, nil
}

func list(ctx context.Context, s storage.Store, in ListInput) ([]storage.Object, error) {
	all, err := s.List(ctx, "")
	if errors.Is(err, storage.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%v; check the stack's backups location in rewind.yaml", err), failure.StoreConfig, err)
	}
	if err != nil {
		return nil, err
	}
	var out []storage.Object
	for _, o := range all {
		if Match(in.Pattern, o.Name) {
			out = append(out, o)
		}
	}
	NewestFirst(out)
	if in.Limit > 0 && len(out) > in.Limit {
		out = out[:in.Limit]
	}
	return out, nil
}

// VerifyInput names one backup and the rules it must pass.
type VerifyInput struct {
	Location        storage.Location
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

// VerifyBackup checks a backup as the runbook does, in one read: the sidecar's sha256
// (`sha256sum -c`) and a full read of gzip and tar (`tar -tzf`), with every entry checked
// by the same rules a restore applies.
func (a *Activities) VerifyBackup(ctx context.Context, in VerifyInput) (Verified, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return Verified{}, err
	}
	return verify(ctx, s, in)
}

func verify(ctx context.Context, s storage.Store, in VerifyInput) (Verified, error) {
	bad := func(kind, format string, args ...any) error {
		msg := fmt.Sprintf("backup %s in %s: ", in.Name, s.Describe()) + fmt.Sprintf(format, args...)
		return temporal.NewNonRetryableApplicationError(msg, kind, nil)
	}
	layout, err := in.Layout.Parse()
	if err != nil {
		return Verified{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadInput", err)
	}
	v := Verified{Name: in.Name, Sidecar: "missing"}
	want, _, err := readSidecar(ctx, s, in.Name)
	switch {
	case errors.Is(err, storage.ErrNotFound) && in.RequireChecksum:
		return Verified{}, bad(failure.MissingChecksum, "no %s sidecar, and the stack sets require_checksum", path.Base(SidecarName(in.Name)))
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return Verified{}, err
	}
	r, err := s.Open(ctx, in.Name, 0)
	if errors.Is(err, storage.ErrNotFound) {
		return Verified{}, bad(failure.CorruptBackup, "it is gone")
	}
	if err != nil {
		return Verified{}, err
	}
	defer r.Close()
	hash := sha256.New()
	read := &heartbeat.Reader{R: io.TeeReader(r, hash), Ctx: ctx, Beat: func(n int64) { heartbeat.Beat(ctx, fmt.Sprintf("%s of %s read", mib(n), in.Name)) }}
	sum, err := archive.Walk(ctx, read, archive.WalkOptions{Layout: layout, Limits: archive.Limits{MaxBytes: in.MaxBytes}}, nil)
	if kind := archive.ErrorType(err); kind != "" {
		return Verified{}, bad(kind, "%v", err)
	}
	if err != nil {
		return Verified{}, err
	}
	if _, err := io.Copy(io.Discard, read); err != nil {
		return Verified{}, fmt.Errorf("read backup %s: %w", in.Name, err)
	}
	v.Size, v.SHA256, v.Entries, v.Bytes = read.N, hex.EncodeToString(hash.Sum(nil)), sum.Entries, sum.Bytes
	if want != "" {
		if want != v.SHA256 {
			return Verified{}, bad(failure.ChecksumMismatch, "sha256 is %s, its sidecar says %s", v.SHA256, want)
		}
		v.Sidecar = "match"
	}
	return v, nil
}

// LatestGoodInput is where to look and what a good backup must pass.
type LatestGoodInput struct {
	Location        storage.Location
	Pattern         string
	RequireChecksum bool
	Layout          archive.LayoutName
	MaxBytes        int64
}

// Skipped is a backup passed over, and why.
type Skipped struct {
	Name   string
	Reason string
}

// LatestGood is the chosen backup and every newer one that failed.
type LatestGood struct {
	Chosen  Verified
	Skipped []Skipped
}

// FindLatestGood verifies backups newest first and returns the first that passes, with the
// reason each newer one was skipped (the runbook's "try alternate backup").
func (a *Activities) FindLatestGood(ctx context.Context, in LatestGoodInput) (LatestGood, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return LatestGood{}, err
	}
	backups, err := list(ctx, s, ListInput{Location: in.Location, Pattern: in.Pattern})
	if err != nil {
		return LatestGood{}, err
	}
	var res LatestGood
	for _, o := range backups {
		heartbeat.Beat(ctx, "verifying "+o.Name)
		v, err := verify(ctx, s, VerifyInput{Location: in.Location, Name: o.Name, RequireChecksum: in.RequireChecksum, Layout: in.Layout, MaxBytes: in.MaxBytes})
		var appErr *temporal.ApplicationError
		switch {
		case err == nil:
			res.Chosen = v
			return res, nil
		case errors.As(err, &appErr) && appErr.NonRetryable():
			res.Skipped = append(res.Skipped, Skipped{Name: o.Name, Reason: appErr.Message()})
		default:
			return LatestGood{}, err
		}
	}
	reasons := make([]string, len(res.Skipped))
	for i, sk := range res.Skipped {
		reasons[i] = sk.Reason
	}
	if len(backups) == 0 {
		reasons = append(reasons, fmt.Sprintf("no file matches %s", in.Pattern))
	}
	return res, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("no good backup in %s: %s", s.Describe(), strings.Join(reasons, "; ")), failure.NoGoodBackup, nil, res)
}

// DownloadInput names a verified backup to bring onto this host.
type DownloadInput struct {
	Location storage.Location
	Name     string
	SHA256   string
}

// Downloaded is where the backup is on this host.
type Downloaded struct {
	Path      string
	Size      int64
	ResumedAt int64
}

// DownloadBackup copies a backup onto this host, appending to what an earlier attempt left
// (the .part file's size is the checkpoint), and checks the whole file's hash at the end.
func (a *Activities) DownloadBackup(ctx context.Context, in DownloadInput) (Downloaded, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return Downloaded{}, err
	}
	if in.Location.Bucket == "" {
		// A local store's file is read where it lies.
		p := filepath.Join(in.Location.Dir, filepath.FromSlash(in.Name))
		return Downloaded{Path: p}, nil
	}
	obj, err := s.Stat(ctx, in.Name)
	if err != nil {
		return Downloaded{}, err
	}
	// Named by its checksum, or by its name where it has none (require_checksum off).
	key := in.SHA256
	if len(key) < 16 {
		sum := sha256.Sum256([]byte(in.Location.String() + "/" + in.Name))
		key = hex.EncodeToString(sum[:])
	}
	dest := filepath.Join(a.Downloads, key[:16]+"-"+path.Base(in.Name))
	if st, err := os.Stat(dest); err == nil && st.Size() == obj.Size {
		return Downloaded{Path: dest, Size: obj.Size, ResumedAt: obj.Size}, nil
	}
	if err := os.MkdirAll(a.Downloads, 0o750); err != nil {
		return Downloaded{}, fmt.Errorf("create download folder: %w", err)
	}
	part := dest + ".part"
	f, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return Downloaded{}, fmt.Errorf("open %s: %w", part, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Downloaded{}, err
	}
	offset := min(st.Size(), obj.Size)
	hash := sha256.New()
	if _, err := io.Copy(hash, io.NewSectionReader(f, 0, offset)); err != nil {
		return Downloaded{}, fmt.Errorf("re-read %s: %w", part, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return Downloaded{}, err
	}
	if err := f.Truncate(offset); err != nil {
		return Downloaded{}, err
	}
	r, err := s.Open(ctx, in.Name, offset)
	if err != nil {
		return Downloaded{}, err
	}
	defer r.Close()
	n, err := io.Copy(io.MultiWriter(meter.For(ctx, meter.Download).Writer(f), hash), &heartbeat.Reader{R: r, Ctx: ctx, N: offset, Beat: func(n int64) { heartbeat.Beat(ctx, fmt.Sprintf("%s of %s downloaded", mib(n), in.Name)) }})
	if err != nil {
		return Downloaded{}, fmt.Errorf("download %s from %s at byte %d: %w", in.Name, s.Describe(), offset+n, err)
	}
	if err := f.Sync(); err != nil {
		return Downloaded{}, err
	}
	if got := hex.EncodeToString(hash.Sum(nil)); in.SHA256 != "" && got != in.SHA256 {
		os.Remove(part)
		return Downloaded{}, fmt.Errorf("download of %s has sha256 %s, verified %s; downloading again", in.Name, got, in.SHA256)
	}
	if err := os.Rename(part, dest); err != nil {
		return Downloaded{}, err
	}
	return Downloaded{Path: dest, Size: offset + n, ResumedAt: offset}, nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
