package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/archive"
	"github.com/algotrendy/rewind/activities/meter"
)

// Error types of bad backups: none of them heals by retrying.
const (
	ErrChecksumMismatch = "ChecksumMismatch"
	ErrMissingChecksum  = "MissingChecksum"
	ErrCorrupt          = "CorruptBackup"
	ErrTooLarge         = "BackupTooLarge"
	ErrNoGoodBackup     = "NoGoodBackup"
	ErrStoreConfig      = "BackupStoreConfig"
)

// Location says where a stack's backups are: a folder, or a bucket and prefix.
type Location struct {
	Dir          string
	Bucket       string
	Prefix       string
	Region       string
	Endpoint     string
	UsePathStyle bool
	PartSize     int64
}

func (l Location) String() string {
	if l.Bucket != "" {
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return l.Dir
}

// Activities find, verify and move backups. Open builds the store of a location, so the
// workflow passes only names and places, never credentials.
type Activities struct {
	Open func(ctx context.Context, l Location) (Store, error)
	// Downloads is the folder on this host where backups from remote stores are put.
	Downloads string
}

func (a *Activities) store(ctx context.Context, l Location) (Store, error) {
	s, err := a.Open(ctx, l)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup store %s: %v", l, err), ErrStoreConfig, err)
	}
	return s, nil
}

// ListInput says where to look and which files are backups.
type ListInput struct {
	Location Location
	Pattern  string
	// Limit is how many to return, newest first; 0: all.
	Limit int
}

// ListBackups returns the backups newest first (the runbook's `ls -t ... | head`).
func (a *Activities) ListBackups(ctx context.Context, in ListInput) ([]Object, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return nil, err
	}
	return list(ctx, s, in)
}

func list(ctx context.Context, s Store, in ListInput) ([]Object, error) {
	all, err := s.List(ctx, "")
	if errors.Is(err, ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%v; check the stack's backups location in rewind.yaml", err), ErrStoreConfig, err)
	}
	if err != nil {
		return nil, err
	}
	var out []Object
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
	Location        Location
	Name            string
	RequireChecksum bool
	Layout          archive.Layout
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
// (`sha256sum -c`) and a full read of gzip and tar (`tar -tzf`), refusing entries that
// escape their folder and archives that unpack past MaxBytes.
func (a *Activities) VerifyBackup(ctx context.Context, in VerifyInput) (Verified, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return Verified{}, err
	}
	return verify(ctx, s, in)
}

func verify(ctx context.Context, s Store, in VerifyInput) (Verified, error) {
	bad := func(kind, format string, args ...any) error {
		msg := fmt.Sprintf("backup %s in %s: ", in.Name, s.Describe()) + fmt.Sprintf(format, args...)
		return temporal.NewNonRetryableApplicationError(msg, kind, nil)
	}
	v := Verified{Name: in.Name, Sidecar: "missing"}
	want, err := readSidecar(ctx, s, in.Name)
	switch {
	case errors.Is(err, ErrNotFound) && in.RequireChecksum:
		return Verified{}, bad(ErrMissingChecksum, "no %s sidecar, and the stack sets require_checksum", path.Base(SidecarName(in.Name)))
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return Verified{}, err
	}
	r, err := s.Open(ctx, in.Name, 0)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Verified{}, bad(ErrCorrupt, "it is gone")
		}
		return Verified{}, err
	}
	defer r.Close()
	hash := sha256.New()
	counted := &progressReader{r: io.TeeReader(r, hash), ctx: ctx}
	gz, err := archive.Gunzip(ctx, counted)
	if err != nil {
		return Verified{}, bad(ErrCorrupt, "not gzip: %v", err)
	}
	defer gz.Close()
	limit := in.MaxBytes
	if limit <= 0 {
		limit = 64 << 30
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				return Verified{}, ctx.Err()
			}
			return Verified{}, bad(ErrCorrupt, "damaged after %d entries: %v (the runbook's `tar -tzf` fails on it too)", v.Entries, err)
		}
		v.Entries++
		if _, _, err := in.Layout.Map(hdr); err != nil {
			return Verified{}, bad(archive.ErrUnsafeEntry, "%v", err)
		}
		n, err := io.Copy(io.Discard, io.LimitReader(tr, limit-v.Bytes+1))
		if err != nil {
			return Verified{}, bad(ErrCorrupt, "damaged in entry %s: %v", hdr.Name, err)
		}
		v.Bytes += n
		if v.Bytes > limit {
			return Verified{}, bad(ErrTooLarge, "unpacks to more than %d bytes (a decompression bomb or the wrong file)", limit)
		}
	}
	// Whatever follows the tar's end still counts toward the file's hash.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return Verified{}, bad(ErrCorrupt, "damaged after the archive's end: %v", err)
	}
	if err := gz.Close(); err != nil {
		return Verified{}, bad(ErrCorrupt, "damaged: %v", err)
	}
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return Verified{}, fmt.Errorf("read backup %s: %w", in.Name, err)
	}
	v.Size = counted.n
	v.SHA256 = hex.EncodeToString(hash.Sum(nil))
	if want != "" {
		if want != v.SHA256 {
			return Verified{}, bad(ErrChecksumMismatch, "sha256 is %s, its sidecar says %s", v.SHA256, want)
		}
		v.Sidecar = "match"
	}
	return v, nil
}

// readSidecar reads the hash from a `sha256sum` line: "<hex>  <file>" or "<hex> *<file>".
func readSidecar(ctx context.Context, s Store, name string) (string, error) {
	r, err := s.Open(ctx, SidecarName(name), 0)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", fmt.Errorf("read sidecar of %s: %w", name, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("backup %s: sidecar %s is not in sha256sum format (\"<sha256>  <file>\")", name, path.Base(SidecarName(name))), ErrChecksumMismatch, nil)
	}
	return strings.ToLower(fields[0]), nil
}

// LatestGoodInput is where to look and what a good backup must pass.
type LatestGoodInput struct {
	Location        Location
	Pattern         string
	RequireChecksum bool
	Layout          archive.Layout
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
		heartbeat(ctx, fmt.Sprintf("verifying %s", o.Name))
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
		fmt.Sprintf("no good backup in %s: %s", s.Describe(), strings.Join(reasons, "; ")), ErrNoGoodBackup, nil, res)
}

// DownloadInput names a verified backup to bring onto this host.
type DownloadInput struct {
	Location Location
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
	dest := filepath.Join(a.Downloads, in.SHA256[:16]+"-"+path.Base(in.Name))
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
	n, err := io.Copy(io.MultiWriter(meter.For(ctx, meter.Download).Writer(f), hash), &progressReader{r: r, ctx: ctx, n: offset})
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

// UploadInput stores a file of this host (a forensic snapshot, a new backup) in a store.
type UploadInput struct {
	Location Location
	Source   string
	Name     string
}

// Uploaded says what was sent.
type Uploaded struct {
	Name      string
	Size      int64
	ResumedAt int64
}

// UploadFile sends a file, continuing a multipart upload from the last heartbeat's checkpoint.
func (a *Activities) UploadFile(ctx context.Context, in UploadInput) (Uploaded, error) {
	s, err := a.store(ctx, in.Location)
	if err != nil {
		return Uploaded{}, err
	}
	f, err := os.Open(in.Source)
	if err != nil {
		return Uploaded{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("upload source %s: %v", in.Source, err), ErrCorrupt, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Uploaded{}, err
	}
	var cp UploadCheckpoint
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &cp)
	}
	resumed := cp.Offset
	err = s.Upload(ctx, in.Name, f, st.Size(), cp, func(c UploadCheckpoint) { heartbeat(ctx, c) })
	if err != nil {
		return Uploaded{}, err
	}
	return Uploaded{Name: in.Name, Size: st.Size(), ResumedAt: resumed}, nil
}

func heartbeat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}

// progressReader counts bytes, heartbeats them, and stops when the context ends.
type progressReader struct {
	r    io.Reader
	ctx  context.Context
	n    int64
	last int64
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 8<<20 {
		p.last = p.n
		heartbeat(p.ctx, fmt.Sprintf("%d bytes read", p.n))
	}
	return n, err
}
