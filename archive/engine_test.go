package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/archive/archivetest"
)

// TestEngineRestoresNormalizedSparseBackups copies the Normalize'd stream of `--sparse`
// backups into a fresh volume through the Docker Engine's archive API, as a restore does,
// and compares the volume with the source. It also shows the failure Normalize fixes: the
// engine refuses GNU's sparse type as it comes.
func TestEngineRestoresNormalizedSparseBackups(t *testing.T) {
	engine := needEngine(t)
	corpus := archivetest.NewCorpus(t)
	want := corpus.Manifest(t)
	image := helperImage(t, engine)
	variants := map[string]archivetest.Variant{}
	for _, v := range archivetest.Variants() {
		variants[v.Name] = v
	}
	for _, name := range []string{"gnu-sparse", "posix-sparse-xattrs"} {
		v := variants[name]
		t.Run(name, func(t *testing.T) {
			backup := corpus.Backup(t, v, archivetest.RunbookBackup)
			volume, helper := helperWithVolume(t, engine, image)
			require.NoError(t, copyIntoVolume(t, engine, helper, "/", backup, func(tw *tar.Writer, e archive.Entry, content io.Reader) error {
				_, err := archive.WriteEntry(tw, "data", e, content)
				return err
			}))

			got := volumeManifest(t, engine, helper, volume)
			ignore := []archivetest.Field{archivetest.FieldAllocated}
			if !v.Xattrs || !corpus.Xattrs {
				ignore = append(ignore, archivetest.FieldXattrs)
			}
			require.Empty(t, archivetest.Diff(want, got, ignore...), "the volume holds what the source held")
			src, dst := want[archivetest.SparseFile].Allocated, got[archivetest.SparseFile].Allocated
			// Measured, not asserted (it depends on the filesystems): the archive API writes
			// holes as zeros, so on ext4 4 KiB in the source became 64 MiB in the volume.
			t.Logf("%s: the %d-byte sparse file takes %d bytes on disk in the source and %d in the volume after the engine's extraction",
				name, archivetest.SparseSize, src, dst)
		})
	}
	t.Run("GNU sparse type as it comes is refused by the engine", func(t *testing.T) {
		backup := corpus.Backup(t, variants["gnu-sparse"], archivetest.RunbookBackup)
		_, helper := helperWithVolume(t, engine, image)
		// What the restore did before Normalize: the header as read, renamed.
		renameOnly := func(tw *tar.Writer, e archive.Entry, content io.Reader) error {
			out := *e.Header
			renamed := archive.Under("data", archive.Normalize(e.Header, e))
			out.Name, out.Linkname = renamed.Name, renamed.Linkname
			if err := tw.WriteHeader(&out); err != nil {
				return err
			}
			_, err := io.Copy(tw, content)
			return err
		}
		err := copyIntoVolume(t, engine, helper, "/", backup, renameOnly)
		require.ErrorContains(t, err, "unhandled tar header type 83")
	})
	t.Run("uploaded to /data the volume's root keeps its defaults", func(t *testing.T) {
		backup := corpus.Backup(t, variants["gnu-sparse"], archivetest.RunbookBackup)
		volume, helper := helperWithVolume(t, engine, image)
		require.NoError(t, copyIntoVolume(t, engine, helper, "/data", backup, func(tw *tar.Writer, e archive.Entry, content io.Reader) error {
			_, err := archive.WriteEntry(tw, "", e, content)
			return err
		}))
		got := volumeManifest(t, engine, helper, volume)
		diff := archivetest.Diff(want, got, archivetest.FieldAllocated, archivetest.FieldXattrs)
		require.Len(t, diff, 3, "the engine skips the entry named \".\" (%v)", diff)
		for _, d := range diff {
			require.Regexp(t, `^\.: (mode|owner|mtime) `, d)
		}
	})
}

// needEngine returns a client of the Docker Engine, or skips without one unless
// REWIND_REQUIRE_DOCKER=1.
func needEngine(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err == nil {
		_, err = c.Ping(t.Context(), client.PingOptions{NegotiateAPIVersion: true})
	}
	if err != nil {
		if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
			t.Fatalf("REWIND_REQUIRE_DOCKER=1 but no Docker Engine answers: %v", err)
		}
		t.Skipf("no Docker Engine: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// cleanupContext outlives the test's own context, which is done before cleanups run.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}

// helperImage imports an image holding only /data (no registry is reachable) and removes
// it after the test. Its containers are never started.
func helperImage(t *testing.T, engine *client.Client) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755}))
	require.NoError(t, tw.Close())
	ref := uniqueName("rewind-archivetest:")
	res, err := engine.ImageImport(t.Context(), client.ImageImportSource{Source: &buf, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: []string{`CMD ["/never-started"]`}})
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, res)
	require.NoError(t, err)
	require.NoError(t, res.Close())
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := engine.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		require.NoError(t, err, "remove image %s", ref)
	})
	return ref
}

// helperWithVolume creates a fresh volume and a stopped container with it at /data, both
// removed after the test.
func helperWithVolume(t *testing.T, engine *client.Client, image string) (volume, helper string) {
	t.Helper()
	volume = uniqueName("rewind-archivetest-")
	_, err := engine.VolumeCreate(t.Context(), client.VolumeCreateOptions{Name: volume})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := engine.VolumeRemove(ctx, volume, client.VolumeRemoveOptions{Force: true})
		require.NoError(t, err, "remove volume %s", volume)
	})
	res, err := engine.ContainerCreate(t.Context(), client.ContainerCreateOptions{
		Name:       volume,
		Config:     &container.Config{Image: image},
		HostConfig: &container.HostConfig{Binds: []string{volume + ":/data"}, NetworkMode: "none"},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := engine.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
		require.NoError(t, err, "remove container %s", volume)
	})
	return volume, res.ID
}

// copyIntoVolume walks the backup and streams every entry, written by write, to dest in
// the helper (the volume is at /data) through the archive API, as one upload.
func copyIntoVolume(t *testing.T, engine *client.Client, helper, dest, backup string, write func(*tar.Writer, archive.Entry, io.Reader) error) error {
	t.Helper()
	f, err := os.Open(backup)
	require.NoError(t, err)
	defer f.Close()
	pr, pw := io.Pipe()
	walked := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		_, err := archive.Walk(t.Context(), f, archive.WalkOptions{}, func(e archive.Entry, content io.Reader) error {
			return write(tw, e, content)
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		walked <- err
	}()
	_, err = engine.CopyToContainer(t.Context(), helper, client.CopyToContainerOptions{DestinationPath: dest, Content: pr, CopyUIDGID: true})
	pr.CloseWithError(err) // unblocks the walk when the engine stopped reading
	if walkErr := <-walked; err == nil {
		err = walkErr
	}
	return err
}

// volumeManifest reads the volume from its mountpoint when the engine runs on this host
// (tests run as root), else through the archive API and GNU tar.
func volumeManifest(t *testing.T, engine *client.Client, helper, volume string) archivetest.Manifest {
	t.Helper()
	vol, err := engine.VolumeInspect(t.Context(), volume, client.VolumeInspectOptions{})
	require.NoError(t, err)
	root := vol.Volume.Mountpoint
	if _, err := os.Stat(root); err != nil {
		t.Logf("volume %s: mountpoint %s is not on this host (%v); reading it through the archive API", volume, root, err)
		res, err := engine.CopyFromContainer(t.Context(), helper, client.CopyFromContainerOptions{SourcePath: "/data"})
		require.NoError(t, err)
		defer res.Content.Close()
		dir := t.TempDir()
		untar := exec.Command("tar", "--numeric-owner", "--xattrs", "-xpf", "-", "-C", dir)
		untar.Stdin = res.Content
		out, err := untar.CombinedOutput()
		require.NoError(t, err, "GNU tar -x of the volume: %s", out)
		root = filepath.Join(dir, "data")
	}
	m, err := archivetest.ReadManifest(root)
	require.NoError(t, err)
	return m
}
