package docker_test

import (
	"context"
	"testing"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/archive/archivetest"
	"github.com/algotrendy/rewind/activities/docker"
)

// TestBackupsOfEveryTarFormatRestoreFileForFile restores backups GNU tar made of one tree
// (nested folders, a relative symlink, hard links, a 64 MiB sparse file, a FIFO, a 0600
// file owned by 1000:1000, a 120-character and a non-ASCII name) the way a full rollback
// does: into a staging volume, then copied into the stack's volume, in small batches. The
// volume must equal the tree: type, mode, owner, size, content, link target, hard-link
// grouping and mtime of every entry, the volume's root included.
func TestBackupsOfEveryTarFormatRestoreFileForFile(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	a.BatchBytes = 1 << 20 // several batches: folders touched by later ones keep their mtime
	env := activityEnv(a)
	corpus := archivetest.NewCorpus(t)
	want := corpus.Manifest(t)
	variants := map[string]bool{"gnu": true, "gnu-sparse": true, "posix": true, "posix-sparse-1.0": true}
	for _, v := range archivetest.Variants() {
		if !variants[v.Name] {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			backup := corpus.Backup(t, v, archivetest.RunbookBackup)
			staging, live := uniqueName("rwtest_staging_"), newVolume(t, c, nil)
			t.Cleanup(func() { removeVolume(c, staging) })

			_, err := env.ExecuteActivity(a.PrepareVolume, docker.PrepareInput{Staging: staging, For: live, Project: "rwtest", Run: "rewind-t/run", Backup: backup})
			require.NoError(t, err)
			_, err = env.ExecuteActivity(a.CopyVolume, docker.CopyInput{From: staging, To: live, Run: "rewind-t/run"})
			require.NoError(t, err)

			got := mountpointManifest(t, c, live)
			// The archive API writes every file whole: a sparse file comes back dense.
			require.Empty(t, archivetest.Diff(want, got, archivetest.FieldAllocated, archivetest.FieldXattrs))
			t.Logf("%s: sparse %s takes %d bytes on disk in the volume, %d in the source",
				v.Name, archivetest.SparseFile, got[archivetest.SparseFile].Allocated, want[archivetest.SparseFile].Allocated)
		})
	}
}

// mountpointManifest reads a volume's content where the engine keeps it (tests run as root).
func mountpointManifest(t *testing.T, c *client.Client, volume string) archivetest.Manifest {
	t.Helper()
	v, err := c.VolumeInspect(context.Background(), volume, client.VolumeInspectOptions{})
	require.NoError(t, err)
	m, err := archivetest.ReadManifest(v.Volume.Mountpoint)
	require.NoError(t, err)
	return m
}

func removeVolume(c *client.Client, name string) {
	ctx := context.Background()
	list, _ := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("volume", name)})
	for _, ct := range list.Items {
		_, _ = c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true})
	}
	_, _ = c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
}
