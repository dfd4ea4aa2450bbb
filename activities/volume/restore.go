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
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
)

// Restores write in batches: each is one PUT to the archive API (a mount and an untar in
// the engine, ~0.3 s on 20.10, so batches are large), and a retry resumes after the last.
const defaultBatchBytes = 256 << 20

// RestoreInput says which backup on this host goes into which volume.
type RestoreInput struct {
	Volume string
	// Backup is the tar.gz on the worker's host.
	Backup string
	// Layout says where the volume's files sit in the backup: auto (default), runbook,
	// flat or strip:N.
	Layout archive.LayoutName
	// SHA256 is the backup's recorded checksum: the restore hashes every byte it reads and
	// fails when they differ. RequireChecksum refuses a backup without one.
	SHA256          string
	RequireChecksum bool `json:",omitempty"`
	// MaxBytes refuses archives that unpack to more (decompression bombs); 0: 64 GiB.
	MaxBytes   int64 `json:",omitempty"`
	BatchBytes int64 `json:",omitempty"`
	// VerifiedSHA256 is SHA256 as requests of earlier releases named it.
	VerifiedSHA256 string `json:",omitempty"`
}

// RestoreProgress is a restore's checkpoint, in heartbeats and on the worker's host: a
// retry goes on after the last batch the engine took.
type RestoreProgress struct {
	BackupSize int64
	BackupMod  time.Time
	// Entries of the backup consumed by batches that completed, and the file bytes they
	// carried: a retry skips that many entries.
	Entries int
	Bytes   int64
	// BackupRead is how far into the compressed backup the restore has read, for people
	// following it (`rewind status`).
	BackupRead int64
	// Done: every entry is in the volume and the checksum matched; SHA256 is the hash.
	Done   bool
	SHA256 string `json:",omitempty"`
	// Boot is the host's boot the batches were written in: they are not synced (the swap
	// syncs the staged data), so a checkpoint of an earlier boot is not trusted.
	Boot string `json:",omitempty"`
	// Transfer is the way a copy's entries were counted: the mover's walk and the engine's
	// archive number them apart, so a checkpoint of the other way is not trusted.
	Transfer string `json:",omitempty"`
}

// RestoreResult says what went into the volume.
type RestoreResult struct {
	Entries int
	Bytes   int64
	// SHA256 is the hash of the backup as read.
	SHA256 string `json:",omitempty"`
	// ResumedAt is the entry a retry continued from (0 when it ran in one go).
	ResumedAt int
	// SparseFiles were stored with holes; the native mover keeps them, the archive API
	// writes them whole.
	SparseFiles int    `json:",omitempty"`
	Layout      string `json:",omitempty"`
	// Transfer is how the entries were written: native or archive; TransferWhy says why
	// not natively.
	Transfer    string `json:",omitempty"`
	TransferWhy string `json:",omitempty"`
	// MoverPeakRSS is the native mover's peak resident memory, in bytes.
	MoverPeakRSS int64 `json:",omitempty"`
}

// RestoreVolume streams a backup into an existing volume through the archive API: every
// entry is checked (archive.Walk) before it is sent, the backup is hashed as it is read
// and compared with its recorded checksum, and progress is checkpointed after each batch.
func (a *Activities) RestoreVolume(ctx context.Context, in RestoreInput) (RestoreResult, error) {
	in.SHA256 = cmp.Or(in.SHA256, in.VerifiedSHA256)
	if in.RequireChecksum && in.SHA256 == "" {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("backup %s has no checksum sidecar, and the stack sets require_checksum", in.Backup), failure.MissingChecksum, nil)
	}
	layout, err := in.Layout.Parse()
	if err != nil {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, err)
	}
	st, err := os.Stat(in.Backup)
	if err != nil {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.Backup, err), failure.NoSuchBackup, err)
	}
	journal := a.checkpointFile(ctx, "restore", in.Volume, in.Backup)
	cp := resumePoint(ctx, journal, st)
	if cp.Done {
		return RestoreResult{Entries: cp.Entries, Bytes: cp.Bytes, SHA256: cp.SHA256, ResumedAt: cp.Entries}, nil
	}
	if err := a.volumeExists(ctx, in.Volume, "no volume %s to restore into; create it first"); err != nil {
		return RestoreResult{}, err
	}
	if err := a.refuseRunning(ctx, "restore into volume "+in.Volume, in.Volume); err != nil {
		return RestoreResult{}, err
	}
	f, err := os.Open(in.Backup)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("open backup %s: %w", in.Backup, err)
	}
	defer f.Close()
	hash := sha256.New()
	read := &heartbeat.Reader{R: io.TeeReader(f, hash), Ctx: ctx}
	saved := func(consumed int, bytes int64) error {
		cp.Entries, cp.Bytes, cp.BackupRead = consumed, cp.Bytes+bytes, read.N
		heartbeat.Beat(ctx, cp)
		return saveCheckpoint(journal, cp)
	}
	res := RestoreResult{ResumedAt: cp.Entries}
	batch := cmp.Or(in.BatchBytes, a.BatchBytes, defaultBatchBytes)
	beat := func() {
		cp.BackupRead = read.N
		heartbeat.Beat(ctx, cp)
	}
	m, why, err := a.startMover(ctx, moverTask{Command: "restore", Volume: in.Volume, Skip: cp.Entries, Kind: meter.Restore, Args: []string{
		"--layout", cmp.Or(string(in.Layout), "auto"), "--batch", strconv.FormatInt(batch, 10), "--max-bytes", strconv.FormatInt(in.MaxBytes, 10),
	}}, saved, beat)
	if err != nil {
		return RestoreResult{}, err
	}
	var sum archive.Summary
	if m != nil {
		res.Transfer = TransferNative
		sum, err = m.restore(read)
		res.MoverPeakRSS = m.peakRSS
	} else {
		res.Transfer, res.TransferWhy = TransferArchive, why
		sum, err = a.restoreThroughArchive(ctx, in.Volume, read, archive.WalkOptions{Layout: layout, Limits: archive.Limits{MaxBytes: in.MaxBytes}, Skip: cp.Entries}, batch, saved, beat)
	}
	if err != nil {
		return RestoreResult{}, noSpace(refusal(in.Backup, err), "restore "+in.Backup+" into volume "+in.Volume)
	}
	if _, err := io.Copy(io.Discard, read); err != nil {
		return RestoreResult{}, fmt.Errorf("read backup %s: %w", in.Backup, err)
	}
	got := hex.EncodeToString(hash.Sum(nil))
	if in.SHA256 != "" && got != in.SHA256 {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("backup %s has sha256 %s, its checksum says %s; it changed or is damaged", in.Backup, got, in.SHA256), failure.ChecksumMismatch, nil)
	}
	cp.Done, cp.SHA256 = true, got
	if err := saveCheckpoint(journal, cp); err != nil {
		return RestoreResult{}, err
	}
	res.Entries, res.Bytes, res.SHA256 = cp.Entries, cp.Bytes, got
	res.SparseFiles, res.Layout = sum.SparseFiles, sum.Layout.String()
	return res, nil
}

// restoreThroughArchive checks the backup's entries on this host and sends them into the
// volume through the engine's archive API, batch by batch: the way where the mover
// cannot run.
func (a *Activities) restoreThroughArchive(ctx context.Context, volume string, backup io.Reader, o archive.WalkOptions, batch int64, saved func(int, int64) error, beat func()) (archive.Summary, error) {
	id, cleanup, err := a.helper(ctx, volume, false)
	if err != nil {
		return archive.Summary{}, err
	}
	defer cleanup()
	w := a.newBatchWriter(ctx, id, volume, batch, meter.Restore, saved)
	w.from = o.Skip
	if o.Skip > 0 {
		w.batches = 1 // the earlier attempt's
	}
	o.Skipped = w.remember
	o.Progress = func(int, int64) { beat() }
	sum, err := archive.Walk(ctx, backup, o, w.write)
	if err == nil {
		err = w.finish()
	}
	w.abort(err)
	return sum, err
}

// volumeExists checks the volume exists; a missing one fails with missing, formatted with
// its name, and is not retried.
func (a *Activities) volumeExists(ctx context.Context, volume, missing string) error {
	if err := retry(ctx, func() error { _, err := a.Engine.VolumeInspect(ctx, volume, client.VolumeInspectOptions{}); return err }); err != nil {
		if gone(err) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(missing, volume), failure.NoSuchVolume, err)
		}
		return fmt.Errorf("inspect volume %s: %w", volume, err)
	}
	return nil
}

// resumePoint is where a restore of this backup goes on: the later of the heartbeat's and
// the host's checkpoint, as long as the backup is the file it was.
func resumePoint(ctx context.Context, journal string, st os.FileInfo) RestoreProgress {
	fresh := RestoreProgress{BackupSize: st.Size(), BackupMod: st.ModTime(), Boot: bootID()}
	same := func(p RestoreProgress) bool {
		return p.BackupSize == st.Size() && p.BackupMod.Equal(st.ModTime()) && p.Boot == fresh.Boot
	}
	var beat, local RestoreProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &beat)
	}
	loadCheckpoint(journal, &local)
	best := fresh
	for _, p := range []RestoreProgress{beat, local} {
		if same(p) && (p.Done || p.Entries > best.Entries) && !best.Done {
			best = p
		}
	}
	return best
}

// bootID names this boot of the host ("" where the kernel does not say).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// refusal turns a bad backup into a non-retryable error naming it; other errors retry.
func refusal(backup string, err error) error {
	var refused *moverRefusal
	if errors.As(err, &refused) {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %s", backup, refused.msg), refused.kind, nil)
	}
	if kind := archive.ErrorType(err); kind != "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", backup, err), kind, nil)
	}
	return err
}

// batchWriter sends entries into a volume through the archive API, one PUT per batch, and
// calls saved once the engine has taken each batch.
type batchWriter struct {
	a      *Activities
	ctx    context.Context
	helper string
	volume string
	limit  int64
	// kind is the meter the bytes count toward.
	kind  string
	saved func(consumed int, bytes int64) error
	// from is the first backup entry of the batch being written.
	from int

	pw       *io.PipeWriter
	tw       *tar.Writer
	done     chan error
	consumed int
	bytes    int64
	names    []string
	batches  int
	// folders are the folder entries written, as sent: a later batch that writes into a
	// folder changes its mtime, so finish sends them again.
	folders []*tar.Header
}

func (a *Activities) newBatchWriter(ctx context.Context, helper, volume string, limit int64, kind string, saved func(int, int64) error) *batchWriter {
	return &batchWriter{a: a, ctx: ctx, helper: helper, volume: volume, limit: limit, kind: kind, saved: saved}
}

// write adds one checked entry to the current batch; a full batch is sent.
func (w *batchWriter) write(e archive.Entry, content io.Reader) error {
	w.remember(e)
	if w.tw == nil {
		w.open()
	}
	// Names go under data/ and land through the helper's root: the engine skips an entry
	// named ".", which would lose the volume root's owner and mode.
	n, err := archive.WriteEntry(w.tw, "data", e, meter.For(w.ctx, w.kind).Reader(content))
	if err != nil {
		return err
	}
	w.consumed, w.bytes = e.Index+1, w.bytes+n
	w.names = append(w.names, e.Path)
	if w.bytes >= w.limit || len(w.names) >= 4096 {
		return w.flush()
	}
	return nil
}

// remember keeps a folder entry to send again at the end.
func (w *batchWriter) remember(e archive.Entry) {
	if e.Header.Typeflag == tar.TypeDir {
		w.folders = append(w.folders, archive.Under("data", archive.Normalize(e.Header, e)))
	}
}

// finish sends the last batch and, when there were several, every folder again, so each
// ends with the mode, owner and mtime the backup holds.
func (w *batchWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	if w.batches <= 1 || len(w.folders) == 0 {
		return nil
	}
	w.open()
	for _, h := range w.folders {
		if err := w.tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write header of %s: %w", h.Name, err)
		}
	}
	w.folders = nil
	return w.flush()
}

func (w *batchWriter) open() {
	pr, pw := io.Pipe()
	w.pw, w.done = pw, make(chan error, 1)
	w.tw = tar.NewWriter(pw)
	go func() {
		_, err := w.a.Engine.CopyToContainer(w.ctx, w.helper, copyToOptions(pr))
		pr.CloseWithError(err)
		w.done <- err
	}()
}

// flush ends the batch, waits for the engine to take it and checkpoints.
func (w *batchWriter) flush() error {
	if w.tw == nil {
		return w.saved(w.consumed, 0)
	}
	err := w.tw.Close()
	w.pw.CloseWithError(err)
	if cerr := <-w.done; err == nil && cerr != nil {
		err = fmt.Errorf("write into volume %s through the archive API: %w", w.volume, cerr)
	}
	w.tw = nil
	if err != nil {
		return err
	}
	w.batches++
	if w.a.onBatch != nil {
		w.a.onBatch(w.from, w.consumed)
	}
	w.from = w.consumed
	bytes := w.bytes
	w.bytes, w.names = 0, nil
	return w.saved(w.consumed, bytes)
}

// abort ends a batch in flight without letting the engine take a half-written one.
func (w *batchWriter) abort(err error) {
	if w.tw != nil {
		w.pw.CloseWithError(cmp.Or(err, errors.New("restore stopped")))
		<-w.done
		w.tw = nil
	}
}

// PrepareInput restores a backup into a staging volume of a rollback run, to prove it
// restores before anything of the stack changes.
type PrepareInput struct {
	// Staging is the staging volume's name; For is the stack's volume it stands in for.
	Staging string
	For     string
	Project string
	// Run is the rollback run (workflow ID/run ID) the staging volume belongs to.
	Run             string
	Backup          string
	Layout          archive.LayoutName
	SHA256          string
	RequireChecksum bool
	// Stack and Name say whose backup this is, by its name in the store: the restore's
	// verdict is recorded for `rewind backups` and `rewind plan`.
	Stack string `json:",omitempty"`
	Name  string `json:",omitempty"`
}

// PrepareVolume creates the staging volume (labelled as the run's, so a later run can
// find and remove it if this one dies) and restores the backup into it.
func (a *Activities) PrepareVolume(ctx context.Context, in PrepareInput) (RestoreResult, error) {
	if in.Staging == "" || in.Run == "" || in.Backup == "" {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError("prepare needs a staging volume, a run and a backup", failure.BadInput, nil)
	}
	labels := map[string]string{StagingLabel: in.Run, VolumeLabel: in.For, ProjectLabelRewind: in.Project}
	if _, err := a.CreateVolume(ctx, VolumeInfo{Name: in.Staging, Labels: labels}); err != nil {
		return RestoreResult{}, err
	}
	began := time.Now()
	res, err := a.RestoreVolume(ctx, RestoreInput{Volume: in.Staging, Backup: in.Backup, Layout: in.Layout, SHA256: in.SHA256, RequireChecksum: in.RequireChecksum})
	a.recordVerdict(ctx, in, res, err, time.Since(began))
	return res, err
}

// recordVerdict keeps what a staging restore proved about its backup; a failure that
// may heal on retry says nothing about the backup and is not recorded.
func (a *Activities) recordVerdict(ctx context.Context, in PrepareInput, res RestoreResult, err error, took time.Duration) {
	var appErr *temporal.ApplicationError
	if in.Stack == "" || a.StateDir == "" || (err != nil && !(errors.As(err, &appErr) && appErr.NonRetryable())) {
		return
	}
	v := backup.Verdict{Name: cmp.Or(in.Name, filepath.Base(in.Backup)), SHA256: cmp.Or(res.SHA256, in.SHA256), At: time.Now().UTC(), OK: err == nil, By: in.Run, Restored: true}
	if err != nil {
		v.Detail = err.Error()
	} else if res.ResumedAt == 0 {
		v.Detail = fmt.Sprintf("restored whole into a staging volume: %d entries, %s", res.Entries, mib(res.Bytes))
		v.Bytes, v.Seconds = res.Bytes, took.Seconds()
	} else {
		v.Detail = fmt.Sprintf("restored whole into a staging volume (resumed at entry %d): %d entries, %s", res.ResumedAt, res.Entries, mib(res.Bytes))
	}
	if err := (backup.Verdicts{Dir: backup.VerdictsDir(a.StateDir)}).Record(in.Stack, v); err != nil {
		activity.GetLogger(ctx).Warn("verdict not recorded", "backup", v.Name, "error", err)
	}
}
