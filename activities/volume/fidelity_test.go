package volume_test

import (
	"context"
	"strings"
	"testing"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/archive/archivetest"
)

// TestBackupsOfEveryTarFormatRestoreFileForFile restores backups GNU tar made of one tree
// (nested folders, a relative symlink, hard links, a 64 MiB sparse file, a FIFO, a 0600
// file owned by 1000:1000, a 120-character and a non-ASCII name) the way a full rollback
// does: into a staging volume, then copied into the stack's volume, in small batches. The
// volume must equal the tree: type, mode, owner, size, content, link target, hard-link
// grouping and mtime of every entry, the volume's root included. Each backup is restored
// and copied by the native mover, which must also keep the sparse file's holes and the
// extended attributes, and through the engine's archive API, which writes files whole; the
// mover's staging volume is then renamed into a third volume, as the rename swap does.
// Both ways run with the host's igzip and with Go's inflate (a bare host's PATH).
func TestBackupsOfEveryTarFormatRestoreFileForFile(t *testing.T) {
	c := needEngine(t)
	corpus := archivetest.NewCorpus(t)
	want := corpus.Manifest(t)
	bare := t.TempDir()
	for _, pass := range []struct{ transfer, gunzip string }{
		{volume.TransferNative, "host"}, {volume.TransferNative, archive.GoGzip}, {volume.TransferArchive, "host"}, {volume.TransferArchive, archive.GoGzip},
	} {
		transfer := pass.transfer
		a, _ := newActivities(t, c)
		a.BatchBytes = 1 << 20 // several batches: folders touched by later ones keep their mtime
		a.ArchiveOnly = transfer == volume.TransferArchive
		env := activityEnv(a)
		for _, v := range archivetest.Variants() {
			if transfer == volume.TransferArchive && (v.Xattrs || v.Name == "oldgnu-sparse" || strings.HasPrefix(v.Name, "posix-sparse-0")) {
				continue // the archive path drops xattrs; its sparse handling is the walk's, tested once per family
			}
			t.Run(transfer+"/"+pass.gunzip+"/"+v.Name, func(t *testing.T) {
				backup := corpus.Backup(t, v, archivetest.RunbookBackup)
				if pass.gunzip == archive.GoGzip {
					t.Setenv("PATH", bare) // tar made the backup; the worker finds no igzip or pigz
					require.Equal(t, archive.GoGzip, archive.Decompressor())
				}
				staging, live := uniqueName("rwtest_staging_"), newVolume(t, c, nil)
				t.Cleanup(func() { removeVolume(c, staging) })

				val, err := env.ExecuteActivity(a.PrepareVolume, volume.PrepareInput{Staging: staging, For: live, Project: "rwtest", Run: "rewind-t/run", Backup: backup})
				require.NoError(t, err)
				var res volume.RestoreResult
				require.NoError(t, val.Get(&res))
				require.Equal(t, transfer, res.Transfer, "written %s (%s)", transfer, res.TransferWhy)
				staged := mountpointManifest(t, c, staging)
				skip := []archivetest.Field{archivetest.FieldAllocated, archivetest.FieldXattrs}
				if transfer == volume.TransferNative {
					// Holes kept where the backup has them (tar --sparse); xattrs when the
					// archive holds them and the filesystem took them.
					skip = nil
					if !v.Sparse {
						skip = append(skip, archivetest.FieldAllocated)
					}
					if !v.Xattrs || !corpus.Xattrs {
						skip = append(skip, archivetest.FieldXattrs)
					}
				}
				require.Empty(t, archivetest.Diff(want, staged, skip...), "the staging volume equals the tree")

				val, err = env.ExecuteActivity(a.CopyVolume, volume.CopyInput{From: staging, To: live, Run: "rewind-t/run"})
				require.NoError(t, err)
				require.NoError(t, val.Get(&res))
				require.Equal(t, transfer, res.Transfer, "copied %s (%s)", transfer, res.TransferWhy)
				got := mountpointManifest(t, c, live)
				// The mover's copy keeps what the staging volume holds, holes and xattrs
				// included; through the archive API a sparse file comes back dense.
				require.Empty(t, archivetest.Diff(want, got, skip...), "the stack's volume equals the tree")
				if transfer == volume.TransferNative {
					// The rename swap puts the staged folder itself in place: all of it kept.
					renamed, forensic := newVolume(t, c, nil), uniqueName("rwtest_forensic_")
					t.Cleanup(func() { removeVolume(c, forensic) })
					swap := volume.SwapInput{Volume: renamed, Staging: staging, Forensic: forensic, Project: "rwtest", Run: "rewind-t/run"}
					swap = planRename(t, env, a, swap)
					_, err = env.ExecuteActivity(a.SwapVolume, swap)
					require.NoError(t, err)
					require.Empty(t, archivetest.Diff(want, mountpointManifest(t, c, renamed), skip...), "the volume the staged folder was renamed into equals the tree")
				}
				t.Logf("%s %s: sparse %s takes %d bytes staged, %d copied, %d in the source", transfer,
					v.Name, archivetest.SparseFile, staged[archivetest.SparseFile].Allocated, got[archivetest.SparseFile].Allocated, want[archivetest.SparseFile].Allocated)
			})
		}
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
