// Package volume holds the runbook's steps on a volume's bytes as Temporal activities:
// inspect, create and remove a volume, restore a backup into a staging volume, snapshot,
// copy, and the rename swap, with the checks that guard them (no running container
// mounts the volume, the data fits). Long transfers run in Rewind's own mover (package
// mover, in a helper container) or through the engine's archive API, in batches with a
// checkpoint after each, so a retry goes on where the last attempt stopped.
package volume

import (
	"context"
	"fmt"
	"maps"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

// Activities move and swap volumes' bytes on the Docker host; they hold its engine and the
// evidence store. Every exported method is a step the worker registers.
type Activities struct {
	Engine   Engine
	Evidence storage.Store
	// StateDir keeps transfer checkpoints on this host; empty keeps them in heartbeats only.
	StateDir string
	// BatchBytes is how much a restore sends, and a snapshot writes, between checkpoints:
	// the most a crash makes it send again. 0: 256 MiB for restores, 64 MiB for snapshots.
	BatchBytes int64
	// NoRename makes swaps copy instead of renaming volume folders (worker.swap: copy).
	NoRename bool
	// ArchiveOnly makes restores write through the engine's archive API instead of
	// Rewind's own mover (worker.transfer: archive).
	ArchiveOnly bool
	// Mover is a static binary that carries the mover (`<binary> mover ...`); empty: this
	// worker's own.
	Mover string
	// StopSwapBetweenMoves makes the swap's mover stop after its first rename, as a crash
	// of the host there would (the crash point inside:SwapVolume).
	StopSwapBetweenMoves bool
	// Rollbacks asks Temporal which rollback of a stack is open: retention removes nothing
	// while one is, nor when it cannot ask (nil).
	Rollbacks OpenRollbacks
	// builtMover is the mover image built for this worker's binary, once found: the binary
	// is hashed once per process, not per step.
	builtMover moverImageCache
	// onBatch, set by tests, sees the entries [from, to) each batch wrote.
	onBatch func(from, to int)
}

// Labels Rewind puts on the volumes and containers it makes for itself.
const (
	// StagingLabel marks a staging volume with the rollback run (workflow ID/run ID) it
	// belongs to.
	StagingLabel = "io.rewind.staging"
	// ForensicLabel marks a forensic volume with the rollback run that moved a volume's
	// damaged content into it; only that run's stored snapshot lets it go.
	ForensicLabel = "io.rewind.forensic"
	// ProjectLabelRewind names the compose project a staging or forensic volume was made
	// for.
	ProjectLabelRewind = "io.rewind.project"
	// HelperLabel marks helper containers, so a crashed step's helper can be found and
	// removed.
	HelperLabel = "io.rewind.helper"
	// VolumeLabel names the volume a helper container is attached to, or the stack's
	// volume a staging or forensic volume stands beside.
	VolumeLabel = "io.rewind.volume"
	// MoverLabel marks a mover that writes into a volume (VolumeLabel), by its command.
	MoverLabel = "io.rewind.mover"
)

// VolumeInput names a volume.
type VolumeInput struct {
	Volume string
}

// VolumeInfo is what Rewind needs to create a volume again as compose made it.
type VolumeInfo struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	Labels     map[string]string
	Mountpoint string
	// CreatedAt tells this volume from another made later under the same name.
	CreatedAt string `json:",omitempty"`
	Exists    bool
}

// InspectVolume records a volume's driver, options and labels (the runbook's
// `docker volume inspect > volume_state_before_rollback.txt`).
func (a *Activities) InspectVolume(ctx context.Context, in VolumeInput) (VolumeInfo, error) {
	var res client.VolumeInspectResult
	err := engine.Retry(ctx, func() (err error) {
		res, err = a.Engine.VolumeInspect(ctx, in.Volume, client.VolumeInspectOptions{})
		return err
	})
	if engine.Gone(err) {
		return VolumeInfo{Name: in.Volume}, nil
	}
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("inspect volume %s: %w", in.Volume, err)
	}
	v := res.Volume
	return VolumeInfo{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options, Labels: v.Labels, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt, Exists: true}, nil
}

// CreateVolume creates the volume again with its driver, options and labels, so compose
// adopts it as its own. An existing volume with the same labels is left as it is.
func (a *Activities) CreateVolume(ctx context.Context, in VolumeInfo) (VolumeInfo, error) {
	cur, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Name})
	if err != nil {
		return VolumeInfo{}, err
	}
	if cur.Exists {
		if !maps.Equal(cur.Labels, in.Labels) {
			return VolumeInfo{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("volume %s exists with other labels than recorded; remove it or check which stack owns it", in.Name), failure.BadInput, nil)
		}
		return cur, nil
	}
	var res client.VolumeCreateResult
	err = engine.Retry(ctx, func() (err error) {
		res, err = a.Engine.VolumeCreate(ctx, client.VolumeCreateOptions{Name: in.Name, Driver: in.Driver, DriverOpts: in.DriverOpts, Labels: in.Labels})
		return err
	})
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("create volume %s: %w", in.Name, err)
	}
	v := res.Volume
	return VolumeInfo{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options, Labels: v.Labels, Mountpoint: v.Mountpoint, Exists: true}, nil
}

// volumeExists checks the volume exists; a missing one fails with missing, formatted with
// its name, and is not retried.
func (a *Activities) volumeExists(ctx context.Context, volume, missing string) error {
	if err := engine.Retry(ctx, func() error { _, err := a.Engine.VolumeInspect(ctx, volume, client.VolumeInspectOptions{}); return err }); err != nil {
		if engine.Gone(err) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(missing, volume), failure.NoSuchVolume, err)
		}
		return fmt.Errorf("inspect volume %s: %w", volume, err)
	}
	return nil
}

// SnapshotProof is a stored, re-read forensic snapshot of a volume. RemoveVolume asks for
// one, so no code path can remove a volume whose data is not kept somewhere else.
type SnapshotProof struct {
	Volume string
	// Location is the snapshot's name in the evidence store; Path where that is on disk.
	Location string
	Path     string
	SHA256   string
	Bytes    int64
	// Local is a copy on the worker's host when the evidence store is remote, kept so a
	// cancelled rollback can put the volume back without a download.
	Local string
}

// RemoveVolumeInput names the volume and the proof that its data is kept.
type RemoveVolumeInput struct {
	Volume   string
	Snapshot SnapshotProof
}

// RemoveVolumeResult lists what the removal took away.
type RemoveVolumeResult struct {
	RemovedContainers []string
	Removed           bool
}

// RemoveVolume removes the stopped containers that hold the volume (the runbook's "volume
// is in use"), then the volume, after checking its snapshot is stored with the recorded
// hash. A container running on it is never removed: the step refuses, naming it.
func (a *Activities) RemoveVolume(ctx context.Context, in RemoveVolumeInput) (RemoveVolumeResult, error) {
	if err := a.checkProof(ctx, in); err != nil {
		return RemoveVolumeResult{}, err
	}
	if err := a.refuseRunning(ctx, "remove volume "+in.Volume, in.Volume); err != nil {
		return RemoveVolumeResult{}, err
	}
	list, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("volume", in.Volume)})
	if err != nil {
		return RemoveVolumeResult{}, fmt.Errorf("list containers using volume %s: %w", in.Volume, err)
	}
	var res RemoveVolumeResult
	for _, c := range list.Items {
		name := engine.ContainerName(c)
		if _, err := a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !engine.Gone(err) {
			return RemoveVolumeResult{}, fmt.Errorf("remove container %s that holds volume %s: %w", name, in.Volume, err)
		}
		res.RemovedContainers = append(res.RemovedContainers, name)
	}
	if _, err := a.Engine.VolumeRemove(ctx, in.Volume, client.VolumeRemoveOptions{}); err != nil {
		if engine.Gone(err) {
			return res, nil
		}
		return RemoveVolumeResult{}, fmt.Errorf("remove volume %s: %w", in.Volume, err)
	}
	res.Removed = true
	return res, nil
}

func (a *Activities) checkProof(ctx context.Context, in RemoveVolumeInput) error {
	p := in.Snapshot
	if p.Volume != in.Volume || p.Location == "" || len(p.SHA256) != 64 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("refuse to remove volume %s without a verified snapshot of it (got snapshot of %q at %q)", in.Volume, p.Volume, p.Location),
			failure.NoSnapshotProof, nil)
	}
	obj, err := a.Evidence.Stat(ctx, p.Location)
	if size := obj.Size; err != nil || size != p.Bytes {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("refuse to remove volume %s: its snapshot %s is not stored as recorded (size %d, want %d): %v", in.Volume, p.Location, size, p.Bytes, err),
			failure.NoSnapshotProof, err)
	}
	return nil
}
