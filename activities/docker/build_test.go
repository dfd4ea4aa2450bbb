package docker_test

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/failure"
)

// buildFolder is a checkout laid out like the runbook's: a Dockerfile in backend/, its
// backups inside the checkout, a symlink the image needs.
func buildFolder(t *testing.T, ignore string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("backend/Dockerfile", "FROM scratch\nCOPY . /ctx/\n")
	write("backend/app.conf", "port=5002\n")
	write("backups/questdb_backup_20261120_000000.tar.gz", "")
	require.NoError(t, os.Truncate(filepath.Join(dir, "backups/questdb_backup_20261120_000000.tar.gz"), 64<<20))
	require.NoError(t, os.Symlink("backend/app.conf", filepath.Join(dir, "current.conf")))
	if ignore != "" {
		write(".dockerignore", ignore)
	}
	return dir
}

// imageFile reads one entry of the built image's /ctx folder.
func imageFile(t *testing.T, c *client.Client, image, name string) *tar.Header {
	t.Helper()
	ctx := context.Background()
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: image, Cmd: []string{"none"}}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = c.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	})
	res, err := c.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: "/ctx/" + name})
	require.NoError(t, err)
	defer res.Content.Close()
	hdr, err := tar.NewReader(res.Content).Next()
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Content)
	return hdr
}

// build runs the BuildImage step on dir's backend/Dockerfile under a fresh tag, removed
// when the test ends.
func build(t *testing.T, c *client.Client, dir string) (string, docker.BuildResult) {
	t.Helper()
	a, _ := newActivities(t, c)
	tag := "rewind-build-test:" + uniqueName("b")
	t.Cleanup(func() { _, _ = c.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true}) })
	v, err := activityEnv(a).ExecuteActivity(a.BuildImage, docker.BuildInput{Context: dir, Dockerfile: "backend/Dockerfile", Tag: tag})
	require.NoError(t, err)
	var built docker.BuildResult
	require.NoError(t, v.Get(&built))
	return tag, built
}

func TestBuildSendsTheContextDockerWouldSend(t *testing.T) {
	c := needEngine(t)
	dir := buildFolder(t, "# backups stay on the host\nbackups/\n")
	tag, built := build(t, c, dir)
	require.Less(t, built.ContextBytes, int64(1<<20), "the backups are not sent")
	require.Equal(t, 4, built.ContextFiles, "Dockerfile, app.conf, .dockerignore, the symlink; nothing from backups/")

	link := imageFile(t, c, tag, "current.conf")
	require.Equal(t, byte(tar.TypeSymlink), link.Typeflag, "a symlink arrives as a symlink")
	require.Equal(t, "backend/app.conf", link.Linkname)
}

func TestBuildRefusesAnOversizedContextNamingItsBiggestFolders(t *testing.T) {
	c := needEngine(t)
	a, _ := newActivities(t, c)
	env := activityEnv(a)
	dir := buildFolder(t, "")

	_, err := env.ExecuteActivity(a.BuildImage, docker.BuildInput{Context: dir, Dockerfile: "backend/Dockerfile", Tag: "rewind-build-test:refused", MaxContext: 1 << 20})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.ContextTooLarge, appErr.Type())
	require.Contains(t, err.Error(), "holds 64.0 MiB, over the limit of 1.0 MiB; its biggest folders: backups/ (64.0 MiB), backend/")
	_, err = c.ImageInspect(context.Background(), "rewind-build-test:refused")
	require.Error(t, err, "nothing was built")
}

func TestBuildHonoursTheDockerfilesOwnIgnoreFile(t *testing.T) {
	c := needEngine(t)
	dir := buildFolder(t, "backend/\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "backend/Dockerfile.dockerignore"), []byte("backups\n"), 0o644))
	tag, built := build(t, c, dir)
	require.Less(t, built.ContextBytes, int64(1<<20))
	require.Equal(t, "app.conf", filepath.Base(imageFile(t, c, tag, "backend/app.conf").Name), "the Dockerfile's own ignore file wins over .dockerignore")
}
