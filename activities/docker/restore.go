package docker

import (
	"archive/tar"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/archive"
	"github.com/algotrendy/rewind/activities/meter"
)

// Error types of the restore.
const (
	ErrNoSuchBackup  = "NoSuchBackup"
	ErrCorruptBackup = "CorruptBackup"
	ErrTooLarge      = "BackupTooLarge"
)

// Restore batches: each is one PUT to the archive API, and a retry resumes after the last.
const (
	// Each batch costs the engine a mount and an untar process (~0.3 s on 20.10), so
	// batches are large; a crash resends at most one.
	defaultBatchBytes   = 256 << 20
	defaultBatchEntries = 4096
	defaultMaxBytes     = 64 << 30
)

// RestoreInput says which backup goes into which volume and how its entries map.
type RestoreInput struct {
	Volume string
	// Backup is the tar.gz on the worker's host.
	Backup string
	Layout archive.Layout
	// MaxBytes refuses archives that unpack to more (decompression bombs); 0: 64 GiB.
	MaxBytes   int64
	BatchBytes int64
	// VerifiedSHA256 is the hash under which an earlier step read the whole backup and
	// found every entry safe. Restore then skips its own checking pass, hashes as it
	// streams and fails if the file changed; entries are still checked one by one.
	VerifiedSHA256 string
}

// RestoreProgress is the heartbeat checkpoint: a retry skips the entries already sent.
type RestoreProgress struct {
	Validated    bool
	BackupSize   int64
	BackupMod    time.Time
	TotalEntries int
	TotalBytes   int64
	// Entries and Bytes are done: sent to the engine in batches that completed.
	Entries int
	Bytes   int64
	// BackupRead is how far into the compressed backup the restore has read, for
	// showing progress (`rewind status`).
	BackupRead int64
	// Done: every entry is in the volume; a retry (the worker died before Temporal heard)
	// reports it instead of writing it all again.
	Done bool
}

// RestoreResult says what went into the volume.
type RestoreResult struct {
	Entries int
	Bytes   int64
	// ResumedAt is the entry a retry continued from (0 when it ran in one go).
	ResumedAt int
}

// RestoreVolume checks every entry of the backup first (nothing is written if one would
// escape the volume), then streams it into the volume through the archive API in batches,
// heartbeating entries and bytes done so a retry continues after the last whole batch.
func (a *Activities) RestoreVolume(ctx context.Context, in RestoreInput) (RestoreResult, error) {
	st, err := os.Stat(in.Backup)
	if err != nil {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.Backup, err), ErrNoSuchBackup, err)
	}
	var cp RestoreProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &cp); err != nil {
			cp = RestoreProgress{}
		}
	}
	journal := a.checkpointFile(ctx, "restore", in.Volume, in.Backup)
	var local RestoreProgress
	if loadCheckpoint(journal, &local) {
		if local.Done && local.BackupSize == st.Size() && local.BackupMod.Equal(st.ModTime()) {
			return RestoreResult{Entries: local.Entries, Bytes: local.Bytes, ResumedAt: local.Entries}, nil
		}
		if local.Entries > cp.Entries {
			cp = local
		}
	}
	if in.VerifiedSHA256 != "" && !cp.Validated {
		cp = RestoreProgress{Validated: true, BackupSize: st.Size(), BackupMod: st.ModTime()}
	}
	if !cp.Validated || cp.BackupSize != st.Size() || !cp.BackupMod.Equal(st.ModTime()) {
		entries, bytes, err := a.validate(ctx, in)
		if err != nil {
			return RestoreResult{}, err
		}
		cp = RestoreProgress{Validated: true, BackupSize: st.Size(), BackupMod: st.ModTime(), TotalEntries: entries, TotalBytes: bytes}
		heartbeat(ctx, cp)
	}
	id, cleanup, err := a.volumeHelper(ctx, in.Volume, false, "no volume %s to restore into; create it first")
	if err != nil {
		return RestoreResult{}, err
	}
	defer cleanup()

	f, err := os.Open(in.Backup)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("open backup %s: %w", in.Backup, err)
	}
	defer f.Close()
	hash := sha256.New()
	read := &countingReader{r: f}
	gz, err := archive.Gunzip(ctx, io.TeeReader(read, hash))
	if err != nil {
		return RestoreResult{}, fmt.Errorf("read backup %s: %w", in.Backup, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	res := RestoreResult{ResumedAt: cp.Entries}
	for i := 0; i < cp.Entries; i++ {
		if _, err := tr.Next(); err != nil {
			return RestoreResult{}, fmt.Errorf("skip to entry %d of backup %s: %w", cp.Entries, in.Backup, err)
		}
	}
	batchBytes := cmp.Or(in.BatchBytes, a.BatchBytes, defaultBatchBytes)
	for {
		n, b, sent, more, err := a.sendBatch(ctx, id, tr, in, batchBytes)
		if err != nil {
			return RestoreResult{}, err
		}
		cp.Entries += n
		cp.Bytes += b
		cp.BackupRead = read.n
		if err := saveCheckpoint(journal, cp); err != nil {
			return RestoreResult{}, err
		}
		heartbeat(ctx, cp)
		if a.onBatch != nil {
			a.onBatch(sent)
		}
		if !more {
			break
		}
	}
	if in.VerifiedSHA256 != "" {
		if _, err := io.Copy(io.Discard, f); err != nil {
			return RestoreResult{}, fmt.Errorf("read backup %s: %w", in.Backup, err)
		}
		if got := hex.EncodeToString(hash.Sum(nil)); got != in.VerifiedSHA256 {
			return RestoreResult{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("backup %s changed since it was verified (sha256 %s, verified %s); restore from a backup that is not being written", in.Backup, got, in.VerifiedSHA256),
				ErrCorruptBackup, nil)
		}
	}
	cp.Done = true
	if err := saveCheckpoint(journal, cp); err != nil {
		return RestoreResult{}, err
	}
	res.Entries, res.Bytes = cp.Entries, cp.Bytes
	return res, nil
}

// sendBatch writes the next entries to the volume in one archive upload.
func (a *Activities) sendBatch(ctx context.Context, id string, tr *tar.Reader, in RestoreInput, limit int64) (entries int, bytes int64, names []string, more bool, err error) {
	sent := meter.For(ctx, meter.Restore)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := a.Engine.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/data", Content: pr, CopyUIDGID: true})
		pr.CloseWithError(err)
		done <- err
	}()
	tw := tar.NewWriter(pw)
	write := func() (bool, error) {
		for entries < defaultBatchEntries && bytes < limit {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			if err != nil {
				return false, fmt.Errorf("read backup %s: %w", in.Backup, err)
			}
			entries++
			target, skip, err := in.Layout.Map(hdr)
			if err != nil {
				return false, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.Backup, err), archive.ErrUnsafeEntry, err)
			}
			if skip || target == "" {
				continue
			}
			out := *hdr
			out.Name = target
			if hdr.Typeflag == tar.TypeLink {
				if out.Linkname, err = in.Layout.MapLink(hdr); err != nil {
					return false, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.Backup, err), archive.ErrUnsafeEntry, err)
				}
			}
			if err := tw.WriteHeader(&out); err != nil {
				return false, fmt.Errorf("send entry %s: %w", target, err)
			}
			n, err := io.Copy(sent.Writer(tw), tr)
			if err != nil {
				return false, fmt.Errorf("send entry %s: %w", target, err)
			}
			bytes += n
			names = append(names, target)
		}
		return true, nil
	}
	more, werr := write()
	if werr == nil {
		werr = tw.Close()
	}
	pw.CloseWithError(werr)
	if cerr := <-done; werr == nil && cerr != nil {
		werr = fmt.Errorf("write into volume %s through the archive API: %w", in.Volume, cerr)
	}
	if werr != nil {
		return 0, 0, nil, false, werr
	}
	return entries, bytes, names, more, nil
}

// validate reads the whole backup and refuses it, before anything is written, when gzip
// or tar is broken, an entry escapes the volume, or it unpacks to more than MaxBytes.
func (a *Activities) validate(ctx context.Context, in RestoreInput) (int, int64, error) {
	f, err := os.Open(in.Backup)
	if err != nil {
		return 0, 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.Backup, err), ErrNoSuchBackup, err)
	}
	defer f.Close()
	limit := in.MaxBytes
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	corrupt := func(err error) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s is damaged: %v; nothing was written, try an older backup", in.Backup, err), ErrCorruptBackup, err)
	}
	gz, err := archive.Gunzip(ctx, f)
	if err != nil {
		return 0, 0, corrupt(err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var entries int
	var total int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, corrupt(err)
		}
		entries++
		if _, _, err := in.Layout.Map(hdr); err != nil {
			return 0, 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v; nothing was written", in.Backup, err), archive.ErrUnsafeEntry, err)
		}
		if hdr.Typeflag == tar.TypeLink {
			if _, err := in.Layout.MapLink(hdr); err != nil {
				return 0, 0, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v; nothing was written", in.Backup, err), archive.ErrUnsafeEntry, err)
			}
		}
		n, err := io.Copy(io.Discard, io.LimitReader(tr, limit-total+1))
		if err != nil {
			return 0, 0, corrupt(err)
		}
		total += n
		if total > limit {
			return 0, 0, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("backup %s unpacks to more than %d bytes (a decompression bomb or the wrong file); nothing was written", in.Backup, limit), ErrTooLarge, nil)
		}
		if entries%1024 == 0 {
			heartbeat(ctx, RestoreProgress{})
		}
	}
	return entries, total, nil
}
