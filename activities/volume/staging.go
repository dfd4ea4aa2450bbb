package volume

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/meter"
)

// StagingInput names a run's staging volumes.
type StagingInput struct {
	Project string
	Run     string
	Names   []string `json:",omitempty"`
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
	v := backups.Verdict{Name: cmp.Or(in.Name, filepath.Base(in.Backup)), SHA256: cmp.Or(res.SHA256, in.SHA256), At: time.Now().UTC(), OK: err == nil, By: in.Run, Restored: true}
	if err != nil {
		v.Detail = err.Error()
	} else if res.ResumedAt == 0 {
		v.Detail = fmt.Sprintf("restored whole into a staging volume: %d entries, %s", res.Entries, meter.MiB(res.Bytes))
		v.Bytes, v.Seconds = res.Bytes, took.Seconds()
	} else {
		v.Detail = fmt.Sprintf("restored whole into a staging volume (resumed at entry %d): %d entries, %s", res.ResumedAt, res.Entries, meter.MiB(res.Bytes))
	}
	if err := (backups.Verdicts{Dir: backups.VerdictsDir(a.StateDir)}).Record(in.Stack, v); err != nil {
		activity.GetLogger(ctx).Warn("verdict not recorded", "backup", v.Name, "error", err)
	}
}

// RemoveResult names the volumes a step removed.
type RemoveResult struct {
	Removed []string
}

// RemoveStaging removes staging volumes of the run, and its forensic volumes once a put-back
// emptied them. Any other volume is refused, and so is a forensic volume that holds data:
// this step never removes the stack's data or the damaged data kept for forensics.
func (a *Activities) RemoveStaging(ctx context.Context, in StagingInput) (RemoveResult, error) {
	var res RemoveResult
	for _, name := range in.Names {
		v, err := a.Engine.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if engine.Gone(err) {
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
	if _, err := a.Engine.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil && !engine.Gone(err) {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}
