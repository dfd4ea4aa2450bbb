package docker

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
)

// Labels of the volumes Rewind makes for itself.
const (
	// StagingLabel marks a staging volume with the rollback run (workflow ID/run ID) it
	// belongs to.
	StagingLabel = "io.rewind.staging"
	// ProjectLabelRewind names the compose project a staging volume was made for.
	ProjectLabelRewind = "io.rewind.project"
)

// StagingInput names a run's staging volumes.
type StagingInput struct {
	Project string
	Run     string
	Names   []string `json:",omitempty"`
}

// RemoveStaging removes staging volumes of the run, and its forensic volumes once a put-back
// emptied them. Any other volume is refused, and so is a forensic volume that holds data:
// this step never removes the stack's data or the damaged data kept for forensics.
func (a *Activities) RemoveStaging(ctx context.Context, in StagingInput) (RemoveResult, error) {
	var res RemoveResult
	for _, name := range in.Names {
		v, err := a.Engine.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if gone(err) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("inspect staging volume %s: %w", name, err)
		}
		labels := v.Volume.Labels
		switch {
		case labels[StagingLabel] == in.Run:
		case labels[ForensicLabel] == in.Run:
			empty, err := a.isEmpty(ctx, name)
			if err != nil {
				return res, err
			}
			if !empty {
				continue // the damaged data waits for its snapshot
			}
		default:
			return res, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("refuse to remove volume %s: it is not a staging volume of %s", name, in.Run), failure.BadInput, nil)
		}
		if err := a.removeVolumeAndHolders(ctx, name); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, name)
	}
	return res, nil
}

// RemoveStaleStaging removes the project's staging volumes that belong to other runs:
// only one rollback of a stack runs at a time, so those runs are over.
func (a *Activities) RemoveStaleStaging(ctx context.Context, in StagingInput) (RemoveResult, error) {
	list, err := a.Engine.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", ProjectLabelRewind+"="+in.Project)})
	if err != nil {
		return RemoveResult{}, fmt.Errorf("list staging volumes of %s: %w", in.Project, err)
	}
	var res RemoveResult
	for _, v := range list.Items {
		run, ok := v.Labels[StagingLabel]
		if !ok || run == in.Run {
			continue
		}
		if err := a.removeVolumeAndHolders(ctx, v.Name); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, v.Name)
	}
	return res, nil
}

// isEmpty reports whether a volume holds nothing but its root folder.
func (a *Activities) isEmpty(ctx context.Context, volume string) (bool, error) {
	id, cleanup, err := a.helper(ctx, volume, true)
	if err != nil {
		return false, err
	}
	defer cleanup()
	src, err := a.Engine.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/data"})
	if err != nil {
		return false, fmt.Errorf("read volume %s through the archive API: %w", volume, err)
	}
	defer src.Content.Close()
	tr := tar.NewReader(src.Content)
	for n := 0; ; n++ {
		if _, err := tr.Next(); errors.Is(err, io.EOF) {
			return n <= 1, nil
		} else if err != nil {
			return false, fmt.Errorf("read volume %s: %w", volume, err)
		}
		if n >= 1 {
			return false, nil
		}
	}
}

// removeVolumeAndHolders removes the containers that hold a volume (Rewind's helpers), then
// it. A volume another container uses is refused, naming it: Rewind's own volumes go only
// when nothing else uses them.
func (a *Activities) removeVolumeAndHolders(ctx context.Context, name string) error {
	users, err := a.volumeUsers(ctx, name, true)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"refuse to remove volume %s: container %s uses it; Rewind's staging and forensic volumes are removed only when nothing else uses them", name, strings.Join(users, ", ")),
			failure.VolumeInUse, nil)
	}
	if err := a.removeContainers(ctx, make(client.Filters).Add("volume", name), "containers using volume "+name); err != nil {
		return err
	}
	if _, err := a.Engine.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil && !gone(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// removeContainers removes every container the filters match, running or not; what names
// them in errors.
func (a *Activities) removeContainers(ctx context.Context, filters client.Filters, what string) error {
	var list client.ContainerListResult
	err := retry(ctx, func() error {
		var err error
		list, err = a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
		return err
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	for _, c := range list.Items {
		if err := retry(ctx, func() error {
			_, err := a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
			return err
		}); err != nil && !gone(err) {
			return fmt.Errorf("remove container %s of the %s: %w", c.ID[:12], what, err)
		}
	}
	return nil
}

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
	var cp RestoreProgress
	if loadCheckpoint(journal, &cp) && cp.Boot != bootID() {
		cp = RestoreProgress{} // written in an earlier boot: the page cache may have lost it
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
		return saveCheckpoint(journal, cp)
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
func resumeOf(cp *RestoreProgress, transfer string) int {
	if cp.Transfer != transfer {
		cp.Entries, cp.Bytes, cp.Transfer = 0, 0, transfer
	}
	return cp.Entries
}

// copied records a finished copy.
func (a *Activities) copied(journal string, cp RestoreProgress, res RestoreResult) (RestoreResult, error) {
	cp.Done = true
	if err := saveCheckpoint(journal, cp); err != nil {
		return RestoreResult{}, err
	}
	res.Entries, res.Bytes = cp.Entries, cp.Bytes
	return res, nil
}

// copyThroughArchive sends the source's entries through the engine's archive API: the
// way where the mover cannot run.
func (a *Activities) copyThroughArchive(ctx context.Context, in CopyInput, journal string, batch int64, cp *RestoreProgress, saved func(int, int64) error) (RestoreResult, error) {
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

// writeRaw adds an entry that needs no checking (it comes from a volume Rewind filled).
func (w *batchWriter) writeRaw(index int, hdr *tar.Header, content io.Reader) error {
	if hdr.Typeflag == tar.TypeDir {
		w.folders = append(w.folders, hdr)
	}
	if w.tw == nil {
		w.open()
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header of %s: %w", hdr.Name, err)
	}
	n, err := io.Copy(w.tw, meter.For(w.ctx, w.kind).Reader(content))
	if err != nil {
		return fmt.Errorf("write %s: %w", hdr.Name, err)
	}
	w.consumed, w.bytes = index+1, w.bytes+n
	w.names = append(w.names, path.Clean(hdr.Name))
	if w.bytes >= w.limit || len(w.names) >= 4096 {
		return w.flush()
	}
	return nil
}

func copyToOptions(content io.Reader) client.CopyToContainerOptions {
	return client.CopyToContainerOptions{DestinationPath: "/", Content: content, CopyUIDGID: true}
}
