package docker

import (
	"context"
	"fmt"
	"maps"

	"github.com/algotrendy/rewind/failure"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"
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
	err := retry(ctx, func() (err error) {
		res, err = a.Engine.VolumeInspect(ctx, in.Volume, client.VolumeInspectOptions{})
		return err
	})
	if gone(err) {
		return VolumeInfo{Name: in.Volume}, nil
	}
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("inspect volume %s: %w", in.Volume, err)
	}
	v := res.Volume
	return VolumeInfo{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options, Labels: v.Labels, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt, Exists: true}, nil
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
		s := summarize(c)
		if _, err := a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !gone(err) {
			return RemoveVolumeResult{}, fmt.Errorf("remove container %s that holds volume %s: %w", s.Name, in.Volume, err)
		}
		res.RemovedContainers = append(res.RemovedContainers, s.Name)
	}
	if _, err := a.Engine.VolumeRemove(ctx, in.Volume, client.VolumeRemoveOptions{}); err != nil {
		if gone(err) {
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
	err = retry(ctx, func() (err error) {
		res, err = a.Engine.VolumeCreate(ctx, client.VolumeCreateOptions{Name: in.Name, Driver: in.Driver, DriverOpts: in.DriverOpts, Labels: in.Labels})
		return err
	})
	if err != nil {
		return VolumeInfo{}, fmt.Errorf("create volume %s: %w", in.Name, err)
	}
	v := res.Volume
	return VolumeInfo{Name: v.Name, Driver: v.Driver, DriverOpts: v.Options, Labels: v.Labels, Mountpoint: v.Mountpoint, Exists: true}, nil
}

// ImageInput names an image.
type ImageInput struct {
	Image string
}

// RemoveImage removes an image (the runbook's `docker rmi`); a missing image is fine.
func (a *Activities) RemoveImage(ctx context.Context, in ImageInput) (RemoveResult, error) {
	res, err := a.Engine.ImageRemove(ctx, in.Image, client.ImageRemoveOptions{})
	if gone(err) {
		return RemoveResult{}, nil
	}
	if err != nil {
		return RemoveResult{}, fmt.Errorf("remove image %s: %w", in.Image, err)
	}
	var out RemoveResult
	for _, d := range res.Items {
		if d.Untagged != "" {
			out.Removed = append(out.Removed, d.Untagged)
		}
	}
	return out, nil
}
