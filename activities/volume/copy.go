package volume

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/checkpoint"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
)

// CopyInput copies a staging volume's content into a volume.
type CopyInput struct {
	From, To string
	Run      string
	// BatchBytes is how much is sent between checkpoints; 0: the worker's setting.
	BatchBytes int64 `json:",omitempty"`
}

// CopyVolume copies one volume's files into another, batch by batch with a checkpoint
// after each: a retry skips the entries already copied. Rewind's mover copies natively
// with both volumes mounted; where it cannot run, the entries go engine to engine,
// uncompressed, through the archive API. The source is a staging volume nothing writes
// to, so it lists the same entries in the same order every time.
func (a *Activities) CopyVolume(ctx context.Context, in CopyInput) (RestoreResult, error) {
	if in.From == "" || in.To == "" {
		return RestoreResult{}, temporal.NewNonRetryableApplicationError("copy needs a source and a target volume", failure.BadInput, nil)
	}
	journal := a.checkpointFile(ctx, "copy", in.From, in.To)
	var cp checkpoint.Transfer
	if checkpoint.Load(journal, &cp) && cp.Boot != bootID() {
		cp = checkpoint.Transfer{} // written in an earlier boot: the page cache may have lost it
	}
	cp.Boot = bootID()
	if cp.Done {
		return RestoreResult{Entries: cp.Entries, Bytes: cp.Bytes, ResumedAt: cp.Entries, Transfer: cp.Transfer}, nil
	}
	if err := a.volumeExists(ctx, in.From, "no staging volume %s to copy from"); err != nil {
		return RestoreResult{}, err
	}
	if err := a.volumeExists(ctx, in.To, "no volume %s to copy into; create it first"); err != nil {
		return RestoreResult{}, err
	}
	if err := a.refuseRunning(ctx, "copy into volume "+in.To, in.To); err != nil {
		return RestoreResult{}, err
	}
	batch := cmp.Or(in.BatchBytes, a.BatchBytes, defaultBatchBytes)
	saved := func(consumed int, bytes int64) error {
		cp.Entries, cp.Bytes = consumed, cp.Bytes+bytes
		heartbeat.Beat(ctx, cp)
		return checkpoint.Save(journal, cp)
	}
	beat := func() { heartbeat.Beat(ctx, cp) }
	skip := 0
	if cp.Transfer == TransferNative {
		skip = cp.Entries
	}
	m, why, err := a.startMover(ctx, moverTask{Command: "copy", Volume: in.To, From: in.From, Kind: meter.Copy, Skip: skip,
		Args: []string{"--batch", strconv.FormatInt(batch, 10)}}, saved, beat)
	if err != nil {
		return RestoreResult{}, err
	}
	if m == nil {
		res, err := a.copyThroughArchive(ctx, in, journal, batch, &cp, saved)
		res.TransferWhy = why
		return res, noSpace(err, "copy volume "+in.From+" into "+in.To)
	}
	resumeOf(&cp, TransferNative) // before the first ack is taken, in m.copy
	res := RestoreResult{ResumedAt: skip, Transfer: TransferNative}
	if err := m.copy(); err != nil {
		return RestoreResult{}, noSpace(fmt.Errorf("copy volume %s into %s: %w", in.From, in.To, err), "copy volume "+in.From+" into "+in.To)
	}
	res.MoverPeakRSS = m.peakRSS
	return a.copied(journal, cp, res)
}

// resumeOf is where a copy the way transfer goes on: a checkpoint of the other way counts
// other entries, so the copy starts over (writing over what is there).
func resumeOf(cp *checkpoint.Transfer, transfer string) int {
	if cp.Transfer != transfer {
		cp.Entries, cp.Bytes, cp.Transfer = 0, 0, transfer
	}
	return cp.Entries
}

// copy waits for the mover's copy to end, checkpointing its acks as they come; between
// acks (a batch can take a while on a slow disk) it beats while the mover runs.
func (w *runningMover) copy() error {
	defer w.cleanup()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var err error
	for acks := w.acks; acks != nil && err == nil; {
		select {
		case ack, ok := <-acks:
			if !ok {
				acks = nil
				break
			}
			err = w.take(ack)
		case <-tick.C:
			w.beat()
		case <-w.ctx.Done():
			err = w.ctx.Err() // the mover is removed on the way out
		}
	}
	if err != nil {
		return w.failed(err)
	}
	<-w.exited
	switch {
	case w.ctx.Err() != nil:
		return w.ctx.Err()
	case w.refused != nil || w.exitErr != nil || w.exitCode != 0 || !w.done:
		return w.failed(errors.New("the mover stopped before the end of the copy"))
	}
	return nil
}

// copyThroughArchive sends the source's entries through the engine's archive API: the
// way where the mover cannot run.
func (a *Activities) copyThroughArchive(ctx context.Context, in CopyInput, journal string, batch int64, cp *checkpoint.Transfer, saved func(int, int64) error) (RestoreResult, error) {
	skip := resumeOf(cp, TransferArchive)
	from, cleanFrom, err := a.volumeHelper(ctx, in.From, true, "no staging volume %s to copy from")
	if err != nil {
		return RestoreResult{}, err
	}
	defer cleanFrom()
	to, cleanTo, err := a.volumeHelper(ctx, in.To, false, "no volume %s to copy into; create it first")
	if err != nil {
		return RestoreResult{}, err
	}
	defer cleanTo()
	src, err := a.Engine.CopyFromContainer(ctx, from, client.CopyFromContainerOptions{SourcePath: "/data"})
	if err != nil {
		return RestoreResult{}, fmt.Errorf("read volume %s through the archive API: %w", in.From, err)
	}
	defer src.Content.Close()
	tr := tar.NewReader(&heartbeat.Reader{R: src.Content, Ctx: ctx, Beat: func(n int64) { heartbeat.Beat(ctx, *cp) }})
	res := RestoreResult{ResumedAt: skip, Transfer: TransferArchive}
	w := a.newBatchWriter(ctx, to, in.To, batch, meter.Copy, saved)
	w.from = skip
	if skip > 0 {
		w.batches = 1 // the earlier attempt's
	}
	err = copyEntries(tr, skip, w)
	if err == nil {
		err = w.finish()
	}
	w.abort(err)
	if err != nil {
		return RestoreResult{}, err
	}
	return a.copied(journal, *cp, res)
}

// copyEntries hands the entries of the engine's archive of /data, after the first skip,
// to w.
func copyEntries(tr *tar.Reader, skip int, w *batchWriter) error {
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the engine's archive of the staging volume: %w", err)
		}
		if i < skip {
			if hdr.Typeflag == tar.TypeDir {
				w.folders = append(w.folders, hdr)
			}
			continue
		}
		// The engine names entries data/...: they go back through the target helper's root
		// as they are, the volume's root folder included.
		if err := w.writeRaw(i, hdr, tr); err != nil {
			return err
		}
	}
}

// copied records a finished copy.
func (a *Activities) copied(journal string, cp checkpoint.Transfer, res RestoreResult) (RestoreResult, error) {
	cp.Done = true
	if err := checkpoint.Save(journal, cp); err != nil {
		return RestoreResult{}, err
	}
	res.Entries, res.Bytes = cp.Entries, cp.Bytes
	return res, nil
}
