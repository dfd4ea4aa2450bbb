package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/moby/moby/api/types/container"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/failure"
)

// Ways a swap puts the staged data in place.
const (
	SwapRename = "rename"
	SwapCopy   = "copy"
)

// SwapInput names the stack's volume, its staging volume and the forensic volume of the
// run that keeps the damaged content.
type SwapInput struct {
	Volume   string
	Staging  string
	Forensic string
	Project  string
	Run      string
	// Inodes, for an undo, are what the swap recorded.
	Inodes mover.Inodes `json:",omitzero"`
}

// SwapResult says how the staged data got in place: renamed (Method rename, the damaged
// content whole in the forensic volume), or not at all (Method copy, Why says why, and
// nothing was changed: the rollback copies instead).
type SwapResult struct {
	Method string
	Why    string `json:",omitempty"`
	Inodes mover.Inodes
}

// PlanSwap finds out whether a volume's content can be swapped with its staging volume's
// by renaming their folders, and readies it: the forensic volume made, the mover image
// built, the folders' inodes recorded. It moves nothing. A swap needs the local volume
// driver, one volumes folder for all three volumes, and a worker binary that runs in a
// FROM-scratch image (static); otherwise the result says why and the rollback copies.
func (a *Activities) PlanSwap(ctx context.Context, in SwapInput) (SwapResult, error) {
	if in.Volume == "" || in.Staging == "" || in.Forensic == "" || in.Run == "" {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("a swap needs a volume, its staging volume, a forensic volume and a run", failure.BadInput, nil)
	}
	if a.NoRename {
		return SwapResult{Method: SwapCopy, Why: "renames are turned off on this worker (worker.swap: copy)"}, nil
	}
	live, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Volume})
	if err != nil {
		return SwapResult{}, err
	}
	if !live.Exists {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("no volume "+in.Volume+" to swap", failure.NoSuchVolume, nil)
	}
	if why := renameable(live); why != "" {
		return SwapResult{Method: SwapCopy, Why: why}, nil
	}
	labels := map[string]string{ForensicLabel: in.Run, VolumeLabel: in.Volume, ProjectLabelRewind: in.Project}
	forensic, err := a.CreateVolume(ctx, VolumeInfo{Name: in.Forensic, Labels: labels})
	if err != nil {
		return SwapResult{}, err
	}
	staging, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Staging})
	if err != nil {
		return SwapResult{}, err
	}
	root := volumesRoot(live)
	if root != volumesRoot(staging) || root != volumesRoot(forensic) {
		return SwapResult{Method: SwapCopy, Why: "the volumes are not in one folder of the engine's"}, nil
	}
	image, why, err := a.moverImage(ctx)
	if err != nil {
		return SwapResult{}, err
	}
	if why != "" {
		return SwapResult{Method: SwapCopy, Why: why}, nil
	}
	v := mover.Volumes{Root: "/volumes", Live: in.Volume, Staging: in.Staging, Forensic: in.Forensic}
	out, err := a.runSwapCommand(ctx, image, root, "inodes", v, mover.Inodes{})
	if err != nil {
		return SwapResult{}, err
	}
	res := SwapResult{Method: SwapRename}
	if err := json.Unmarshal(out, &res.Inodes); err != nil {
		return SwapResult{}, fmt.Errorf("read what the mover found: %w", err)
	}
	return res, nil
}

// SwapVolume renames the volume's content into the forensic volume and the staged content
// into the volume, as PlanSwap readied it; done renames are not done again.
func (a *Activities) SwapVolume(ctx context.Context, in SwapInput) (SwapResult, error) {
	return a.renameSwap(ctx, "swap", in)
}

// UnswapVolume undoes a swap, whole or begun: the damaged content back into the volume
// from the forensic volume, the staged content back into staging.
func (a *Activities) UnswapVolume(ctx context.Context, in SwapInput) (SwapResult, error) {
	return a.renameSwap(ctx, "unswap", in)
}

func (a *Activities) renameSwap(ctx context.Context, command string, in SwapInput) (SwapResult, error) {
	if in.Inodes == (mover.Inodes{}) {
		return SwapResult{}, temporal.NewNonRetryableApplicationError(command+" needs the inodes PlanSwap recorded", failure.BadInput, nil)
	}
	live, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Volume})
	if err != nil {
		return SwapResult{}, err
	}
	if !live.Exists {
		return SwapResult{}, temporal.NewNonRetryableApplicationError("no volume "+in.Volume+" to put back", failure.NoSuchVolume, nil)
	}
	// A server runs on the folder it opened, wherever it is renamed to: a rename under it
	// leaves it writing into the staging or forensic volume, which is then removed.
	if err := a.refuseRunning(ctx, command+" volume "+in.Volume+" by rename", in.Volume, in.Staging, in.Forensic); err != nil {
		return SwapResult{}, err
	}
	image, why, err := a.moverImage(ctx)
	if err != nil {
		return SwapResult{}, err
	}
	if why != "" {
		return SwapResult{}, temporal.NewNonRetryableApplicationError(command+" of "+in.Volume+" by rename: "+why+"; the damaged content is whole in volume "+in.Forensic, failure.BadInput, nil)
	}
	v := mover.Volumes{Root: "/volumes", Live: in.Volume, Staging: in.Staging, Forensic: in.Forensic}
	if _, err := a.runSwapCommand(ctx, image, volumesRoot(live), command, v, in.Inodes); err != nil {
		return SwapResult{}, err
	}
	return SwapResult{Method: SwapRename, Inodes: in.Inodes}, nil
}

// renameable says why a volume's folder cannot be renamed, or "" when it can: the local
// driver without options keeps a volume as a plain folder of the engine's.
func renameable(v VolumeInfo) string {
	switch {
	case v.Driver != "local":
		return "volume " + v.Name + " uses the " + v.Driver + " driver"
	case len(v.DriverOpts) > 0:
		return "volume " + v.Name + " is mounted from elsewhere (driver options)"
	case filepath.Base(v.Mountpoint) != "_data":
		return "volume " + v.Name + " is not kept as <volumes>/<name>/_data"
	}
	return ""
}

// volumesRoot is the engine's volumes folder a volume lies in, as the engine reports it.
func volumesRoot(v VolumeInfo) string { return filepath.Dir(filepath.Dir(v.Mountpoint)) }

// runMover runs the mover in a helper container that mounts the engine's volumes folder,
// and returns what it printed.
func (a *Activities) runSwapCommand(ctx context.Context, image, root, command string, v mover.Volumes, in mover.Inodes) ([]byte, error) {
	args := []string{command, "--root", "/volumes", "--live", v.Live, "--staging", v.Staging, "--forensic", v.Forensic,
		"--live-inode", fmt.Sprint(in.Live), "--staging-inode", fmt.Sprint(in.Staging)}
	if command == "swap" && a.StopSwapBetweenMoves {
		args = append(args, "--stop-between-moves")
	}
	return a.runMoverOnce(ctx, image, command, v.Live, args, &container.HostConfig{Binds: []string{root + ":/volumes"}, NetworkMode: "none"})
}
