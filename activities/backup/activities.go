// Package backup holds the activities that find, verify and move the stack's database
// backups in a local folder or S3; what a backup is and how one is read whole is package
// backups, which these activities wrap.
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
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
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

// Listed is one backup as ListBackups returns it; the workflows name it by this name.
type Listed = backups.Listed

// ListBackups returns the backups newest first (the runbook's `ls -t ... | head`).
func (a *Activities) ListBackups(ctx context.Context, in ListInput) ([]Listed, error) {
	s, err := backups.Open(ctx, in.Location)
	if err != nil {
		return nil, err
	}
	return backups.List(ctx, s, backups.Query{Pattern: in.Pattern, Limit: in.Limit, Checksums: in.Checksums, Only: in.Only})
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

// VerifyBackup checks a backup as the runbook does, in one read (backups.Verify).
func (a *Activities) VerifyBackup(ctx context.Context, in VerifyInput) (backups.Verified, error) {
	s, err := backups.Open(ctx, in.Location)
	if err != nil {
		return backups.Verified{}, err
	}
	return backups.Verify(ctx, s, backups.Check{Name: in.Name, RequireChecksum: in.RequireChecksum, Layout: in.Layout, MaxBytes: in.MaxBytes})
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
	Chosen  backups.Verified
	Skipped []Skipped
}

// FindLatestGood verifies backups newest first and returns the first that passes, with the
// reason each newer one was skipped (the runbook's "try alternate backup").
func (a *Activities) FindLatestGood(ctx context.Context, in LatestGoodInput) (LatestGood, error) {
	s, err := backups.Open(ctx, in.Location)
	if err != nil {
		return LatestGood{}, err
	}
	listed, err := backups.List(ctx, s, backups.Query{Pattern: in.Pattern})
	if err != nil {
		return LatestGood{}, err
	}
	var res LatestGood
	for _, o := range listed {
		heartbeat.Beat(ctx, "verifying "+o.Name)
		v, err := backups.Verify(ctx, s, backups.Check{Name: o.Name, RequireChecksum: in.RequireChecksum, Layout: in.Layout, MaxBytes: in.MaxBytes})
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
	if len(listed) == 0 {
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
	s, err := backups.Open(ctx, in.Location)
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
	n, err := io.Copy(io.MultiWriter(meter.For(ctx, meter.Download).Writer(f), hash), &heartbeat.Reader{R: r, Ctx: ctx, From: offset, Beat: func(n int64) { heartbeat.Beat(ctx, fmt.Sprintf("%s of %s downloaded", meter.MiB(n), in.Name)) }})
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

// MarkersInput names backups whose markers to read: the ones `rewind deployed` told the
// guard it took before the deploy.
type MarkersInput struct {
	Location storage.Location
	// Patterns are the stack's backup patterns; a name that fits none is not read.
	Patterns []string
	Names    []string
}

// MarkerRead is what one named backup's marker says, or why it says nothing.
type MarkerRead struct {
	Name   string
	Marker backups.Marker `json:",omitzero"`
	// Problem says why the backup is not one Rewind wrote (no such backup, no marker, a
	// marker of other bytes); "" when it is.
	Problem string `json:",omitempty"`
}

// ReadMarkers reads the marker of each named backup, by the rule retention uses
// (backups.Ours), one answer per name in order; it only reads.
func (a *Activities) ReadMarkers(ctx context.Context, in MarkersInput) ([]MarkerRead, error) {
	s, err := backups.Open(ctx, in.Location)
	if err != nil {
		return nil, err
	}
	out := make([]MarkerRead, 0, len(in.Names))
	for _, name := range in.Names {
		r := MarkerRead{Name: name}
		pattern := ""
		for _, p := range in.Patterns {
			if backups.Match(p, name) {
				pattern = p
				break
			}
		}
		if pattern == "" {
			r.Problem = fmt.Sprintf("it fits none of the stack's backup patterns (%s)", strings.Join(in.Patterns, ", "))
			out = append(out, r)
			continue
		}
		listed, err := backups.List(ctx, s, backups.Query{Pattern: pattern, Checksums: true, Only: name})
		appErr, isApp := errors.AsType[*temporal.ApplicationError](err)
		switch {
		case isApp && appErr.Type() == failure.NoGoodBackup:
			r.Problem = "no such backup in " + s.Describe()
		case err != nil:
			return nil, err
		default:
			if m, ok := backups.Ours(ctx, s, listed[0]); ok {
				r.Marker = m
			} else {
				r.Problem = "it carries no marker of rewind backup's recording the sha256 of its sidecar"
			}
		}
		out = append(out, r)
	}
	return out, nil
}
