package volume

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
)

// Restores write in batches: each is one PUT to the archive API (a mount and an untar in
// the engine, ~0.3 s on 20.10, so batches are large), and a retry resumes after the last.
const defaultBatchBytes = 256 << 20

// Ways a restore writes into a volume.
const (
	// TransferNative: Rewind's mover, in a helper container with the volume mounted,
	// reads the checked entries from a FIFO on this host and writes them itself.
	TransferNative = "native"
	// TransferArchive: the entries go in batches through the engine's archive API.
	TransferArchive = "archive"
)

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

// RestoreVolume streams a backup into an existing volume. The backup is hashed as it is
// read and compared with its recorded checksum; every entry is checked with the rules of
// package archive before it lands; progress is checkpointed after each batch, and a retry
// goes on after the last (resumePoint). The entries go in through Rewind's mover, fed
// through a FIFO (feed), or where it cannot run through the engine's archive API
// (restoreThroughArchive).
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
		cp.Entries, cp.Bytes, cp.BackupRead = consumed, cp.Bytes+bytes, read.N()
		heartbeat.Beat(ctx, cp)
		return checkpoint.Save(journal, cp)
	}
	res := RestoreResult{ResumedAt: cp.Entries}
	batch := cmp.Or(in.BatchBytes, a.BatchBytes, defaultBatchBytes)
	beat := func() {
		cp.BackupRead = read.N()
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
		sum, err = m.feed(read)
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
	if err := checkpoint.Save(journal, cp); err != nil {
		return RestoreResult{}, err
	}
	res.Entries, res.Bytes, res.SHA256 = cp.Entries, cp.Bytes, got
	res.SparseFiles, res.Layout = sum.SparseFiles, sum.Layout.String()
	return res, nil
}

// resumePoint is where a restore of this backup goes on: the later of the heartbeat's and
// the host's checkpoint, as long as the backup is the file it was.
func resumePoint(ctx context.Context, journal string, st os.FileInfo) checkpoint.Transfer {
	fresh := checkpoint.Transfer{BackupSize: st.Size(), BackupMod: st.ModTime(), Boot: bootID()}
	same := func(p checkpoint.Transfer) bool {
		return p.BackupSize == st.Size() && p.BackupMod.Equal(st.ModTime()) && p.Boot == fresh.Boot
	}
	var beat, local checkpoint.Transfer
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &beat)
	}
	checkpoint.Load(journal, &local)
	best := fresh
	for _, p := range []checkpoint.Transfer{beat, local} {
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

// feed decompresses the backup into the mover's FIFO until its end, checkpointing the
// mover's acks as they come, and returns what the mover's walk found.
func (w *runningMover) feed(backup io.Reader) (archive.Summary, error) {
	defer w.cleanup()
	src := &archive.Source{R: backup}
	raw, err := archive.Gunzip(w.ctx, src)
	if err != nil {
		w.closeFIFO()
		_ = w.drain(true)
		<-w.exited
		// The header is read from the backup: a cancel or a read error is worth a retry,
		// not a verdict on the backup.
		if err := cmp.Or(w.ctx.Err(), src.Failure()); err != nil {
			return archive.Summary{}, fmt.Errorf("read backup: %w", err)
		}
		return archive.Summary{}, &archive.CorruptError{Err: fmt.Errorf("open gzip: %w", err)}
	}
	buf := make([]byte, 1<<20)
	var gzErr, stopErr error
	for {
		n, rerr := raw.Read(buf)
		if n > 0 {
			if _, err := w.fifo.Write(buf[:n]); err != nil {
				stopErr = fmt.Errorf("send the backup to the mover: %w", err)
				break
			}
		}
		if err := w.drain(false); err != nil {
			stopErr = err
			break
		}
		w.beat()
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			gzErr = rerr
			break
		}
	}
	w.closeFIFO()
	raw.Close()
	if err := w.drain(true); err != nil && stopErr == nil {
		stopErr = err
	}
	<-w.exited
	switch {
	case w.ctx.Err() != nil:
		return archive.Summary{}, fmt.Errorf("read backup: %w", w.ctx.Err())
	case src.Failure() != nil:
		return archive.Summary{}, fmt.Errorf("read backup: %w", src.Failure()) // worth a retry
	case w.refused != nil:
		return archive.Summary{}, &moverRefusal{kind: w.refused.Refused, msg: w.refused.Error}
	case gzErr != nil:
		return archive.Summary{}, &archive.CorruptError{Entries: w.consumed, Err: gzErr}
	case stopErr != nil:
		return archive.Summary{}, w.failed(stopErr)
	case w.exitErr != nil || w.exitCode != 0 || !w.done:
		return archive.Summary{}, w.failed(errors.New("the mover stopped before the end"))
	}
	return w.sum, nil
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

// moverRefusal is a backup the mover's walk refused, by the rule it broke.
type moverRefusal struct{ kind, msg string }

func (e *moverRefusal) Error() string { return e.msg }
