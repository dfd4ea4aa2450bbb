package volume

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/meter"
)

// RoomInput asks, before anything stops, whether a volume's staged data fits where it
// will be put.
type RoomInput struct {
	Volume  string
	Staging string
	// Bytes is what the staged data holds.
	Bytes int64
}

// RoomResult says how the staged data will go in and what room the volume has: a rename
// needs none; a copy needs the staged bytes on the volume's filesystem. Why says why the
// room was not measured (the rollback then goes on as before).
type RoomResult struct {
	Method     string
	Free, Used int64  `json:",omitempty"`
	Why        string `json:",omitempty"`
}

// CheckRoom compares the staged data's size with the room of the volume's filesystem
// where the data cannot be renamed in, and refuses (NoSpace, not retried) when it cannot
// fit: found before the stack stops, not after minutes of a copy failing. The volume's
// own files count as room when removing the volume frees them (a plain local volume); a
// volume mounted from elsewhere (driver options) keeps them on its filesystem.
func (a *Activities) CheckRoom(ctx context.Context, in RoomInput) (RoomResult, error) {
	if in.Volume == "" || in.Staging == "" {
		return RoomResult{}, temporal.NewNonRetryableApplicationError("a room check needs a volume and its staging volume", failure.BadInput, nil)
	}
	live, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Volume})
	if err != nil {
		return RoomResult{}, err
	}
	if !live.Exists {
		return RoomResult{}, temporal.NewNonRetryableApplicationError("no volume "+in.Volume+" to check", failure.NoSuchVolume, nil)
	}
	image, why, err := a.moverImage(ctx)
	if err != nil {
		return RoomResult{}, err
	}
	if !a.NoRename && renameable(live) == "" && why == "" {
		staging, err := a.InspectVolume(ctx, VolumeInput{Volume: in.Staging})
		if err != nil {
			return RoomResult{}, err
		}
		if staging.Exists && volumesRoot(staging) == volumesRoot(live) {
			return RoomResult{Method: SwapRename}, nil
		}
	}
	if why != "" {
		return RoomResult{Method: SwapCopy, Why: "room not measured: " + why}, nil
	}
	out, err := a.runMoverOnce(ctx, image, "room", in.Volume, []string{"room", "--into", "/data"}, &container.HostConfig{
		NetworkMode: "none",
		Mounts:      []mount.Mount{{Type: mount.TypeVolume, Source: in.Volume, Target: "/data", ReadOnly: true}},
	})
	if err != nil {
		return RoomResult{}, fmt.Errorf("measure the room of volume %s: %w", in.Volume, err)
	}
	var room mover.Room
	if err := json.Unmarshal(out, &room); err != nil {
		return RoomResult{}, fmt.Errorf("read what the mover measured: %w", err)
	}
	res := RoomResult{Method: SwapCopy, Free: room.Free, Used: room.Used}
	room.Free = max(room.Free, 0)
	available, freed := room.Free, ""
	if len(live.DriverOpts) == 0 {
		available += room.Used
		freed = fmt.Sprintf(" (%s once its damaged data is kept and removed)", meter.MiB(available))
	}
	if in.Bytes > available {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the backup restores to %s, and volume %s cannot take it by rename: its filesystem has %s free%s. Nothing was stopped; give the volume a larger filesystem or free space on it, then start the rollback again",
			meter.MiB(in.Bytes), in.Volume, meter.MiB(room.Free), freed), failure.NoSpace, nil)
	}
	return res, nil
}
