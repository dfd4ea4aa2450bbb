package volume_test

import (
	"context"
	"errors"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
)

// serve runs the demo's market database on volume until the test ends, as a server that
// keeps its files open, and returns its container's name.
func serve(t *testing.T, c *client.Client, volume string) (string, string) {
	t.Helper()
	ctx := context.Background()
	name := uniqueName("rwtest_server_")
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     &container.Config{Image: demostack.DBImage},
		HostConfig: &container.HostConfig{Binds: []string{volume + ":/var/lib/questdb"}, NetworkMode: "none"},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	_, err = c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{})
	require.NoError(t, err)
	return res.ID, name
}

func requireInUse(t *testing.T, err error, container string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, failure.VolumeInUse, appErr.Type(), appErr.Error())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, appErr.Error(), "mounted by running container "+container)
}

// TestNothingMovesUnderARunningContainer: no step renames, removes or writes into a volume
// a running container mounts; each refuses, naming the container, and changes nothing.
// Once the container stops, the same steps go on.
func TestNothingMovesUnderARunningContainer(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	ctx := context.Background()
	live := newVolume(t, c, nil)
	fill(t, c, live, []file{{name: "db/market.sqlite", body: []byte("the damaged data")}})
	run := "rewind-prod/" + uniqueName("run")
	staging := newVolume(t, c, map[string]string{volume.StagingLabel: run, volume.ProjectLabelRewind: "rwtest"})
	fill(t, c, staging, []file{{name: "db/market.sqlite", body: []byte("the backup's data")}})
	forensic := newVolume(t, c, nil)
	require.NoError(t, removeVolumeNow(ctx, c, forensic)) // PlanSwap makes it, labelled as the run's

	v, err := env.ExecuteActivity(a.SnapshotVolume, volume.SnapshotInput{Volume: live, Name: "snap/" + live + ".tar.gz"})
	require.NoError(t, err)
	var proof volume.SnapshotProof
	require.NoError(t, v.Get(&proof))
	swap := volume.SwapInput{Volume: live, Staging: staging, Forensic: forensic, Project: "rwtest", Run: run}
	swap = planRename(t, env, a, swap)

	id, name := serve(t, c, live)
	for what, step := range map[string]func() error{
		"swap":   func() error { _, err := env.ExecuteActivity(a.SwapVolume, swap); return err },
		"unswap": func() error { _, err := env.ExecuteActivity(a.UnswapVolume, swap); return err },
		"remove": func() error {
			_, err := env.ExecuteActivity(a.RemoveVolume, volume.RemoveVolumeInput{Volume: live, Snapshot: proof})
			return err
		},
		"copy": func() error {
			_, err := env.ExecuteActivity(a.CopyVolume, volume.CopyInput{From: staging, To: live, Run: run})
			return err
		},
		"restore": func() error {
			_, err := env.ExecuteActivity(a.RestoreVolume, volume.RestoreInput{Volume: live, Backup: proof.Path, Layout: "runbook"})
			return err
		},
	} {
		t.Run(what, func(t *testing.T) { requireInUse(t, step(), name) })
	}
	require.Equal(t, describe([]file{{name: "db/market.sqlite", body: []byte("the damaged data")}}), contents(t, c, live), "the running server's data is untouched")

	// A staging volume something else runs on is not Rewind's to remove.
	otherID, other := serve(t, c, staging)
	_, err = env.ExecuteActivity(a.RemoveStaging, volume.StagingInput{Project: "rwtest", Run: run, Names: []string{staging}})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, failure.VolumeInUse, appErr.Type())
	require.Contains(t, appErr.Error(), "container "+other+" uses it")
	_, err = c.VolumeInspect(ctx, staging, client.VolumeInspectOptions{})
	require.NoError(t, err, "the staging volume is still there")

	// Stopped, the servers no longer hold the volumes: the swap goes on.
	for _, stop := range []string{id, otherID} {
		_, err = c.ContainerStop(ctx, stop, client.ContainerStopOptions{})
		require.NoError(t, err)
	}
	_, err = env.ExecuteActivity(a.SwapVolume, swap)
	require.NoError(t, err)
	require.Equal(t, describe([]file{{name: "db/market.sqlite", body: []byte("the backup's data")}}), contents(t, c, live))
}

func removeVolumeNow(ctx context.Context, c *client.Client, name string) error {
	_, err := c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
	return err
}
