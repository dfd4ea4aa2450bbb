package volume_test

import (
	"context"
	"errors"
	"testing"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/failure"
)

// smallVolume is a volume on its own 1 MiB filesystem (tmpfs), as a volume on a small
// device is.
func smallVolume(t *testing.T, c *client.Client) string {
	t.Helper()
	name := uniqueName("rwtest_small_")
	_, err := c.VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: name, Driver: "local",
		DriverOpts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = c.VolumeRemove(context.Background(), name, client.VolumeRemoveOptions{Force: true}) })
	return name
}

func requireNoSpace(t *testing.T, err error, says string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, failure.NoSpace, appErr.Type(), appErr.Error())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), says)
}

// TestStagedDataThatCannotFitIsFoundBeforeAnythingStops: where the staged data cannot be
// renamed in, its size is compared with the room of the volume's filesystem; a copy that
// runs out of space anyway fails at once, not after minutes of retries.
func TestStagedDataThatCannotFitIsFoundBeforeAnythingStops(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	small := smallVolume(t, c)
	staging := newVolume(t, c, nil)
	fill(t, c, staging, []file{{name: "db/market.sqlite", body: randomBytes(2 << 20)}})

	_, err := env.ExecuteActivity(a.CheckRoom, volume.RoomInput{Volume: small, Staging: staging, Bytes: 2 << 20})
	requireNoSpace(t, err, "the backup restores to 2.0 MiB, and volume "+small+" cannot take it by rename: its filesystem has 1.0 MiB free. Nothing was stopped")

	v, err := env.ExecuteActivity(a.CheckRoom, volume.RoomInput{Volume: small, Staging: staging, Bytes: 100 << 10})
	require.NoError(t, err)
	var room volume.RoomResult
	require.NoError(t, v.Get(&room))
	require.Equal(t, volume.SwapCopy, room.Method)
	require.Equal(t, int64(1<<20), room.Free)

	// A plain local volume beside its staging volume takes the data by rename: no room needed.
	plain := newVolume(t, c, nil)
	v, err = env.ExecuteActivity(a.CheckRoom, volume.RoomInput{Volume: plain, Staging: staging, Bytes: 1 << 50})
	require.NoError(t, err)
	require.NoError(t, v.Get(&room))
	require.Equal(t, volume.SwapRename, room.Method)

	// Copied in anyway, the full filesystem fails the copy at once.
	_, err = env.ExecuteActivity(a.CopyVolume, volume.CopyInput{From: staging, To: small, Run: "rewind-prod/" + uniqueName("run")})
	requireNoSpace(t, err, "copy volume "+staging+" into "+small+": no space left on device")
}
