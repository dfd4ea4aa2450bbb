package volume_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/storage"
)

// realEngine is the real Docker Engine, or nil with the reason it is not there.
type realEngine struct {
	c   *client.Client
	err error
}

var (
	engineOnce sync.Once
	shared     realEngine
)

// needEngine skips on a laptop without a Docker Engine; with REWIND_REQUIRE_DOCKER=1 (CI)
// a missing engine fails the test instead.
func needEngine(t *testing.T) *client.Client {
	t.Helper()
	engineOnce.Do(func() {
		ctx := context.Background()
		shared.c, shared.err = engine.New(ctx)
		if shared.err == nil {
			shared.err = demostack.BuildImages(ctx, shared.c)
		}
	})
	if shared.err != nil {
		if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
			t.Fatalf("REWIND_REQUIRE_DOCKER=1 but the Docker Engine is not usable: %v", shared.err)
		}
		t.Skipf("no Docker Engine: %v", shared.err)
	}
	return shared.c
}

func uniqueName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newActivities returns the host's activities with the native mover of a static worker
// build (a test binary links dynamically and cannot run in a FROM-scratch image).
func newActivities(t *testing.T, c *client.Client) (*volume.Activities, *storage.Folder) {
	t.Helper()
	store, err := storage.NewFolder(t.TempDir())
	require.NoError(t, err)
	return &volume.Activities{Engine: c, Evidence: store, StateDir: t.TempDir(), Mover: moverBinary(t)}, store
}

var (
	moverOnce  sync.Once
	moverPath  string
	moverBuild error
)

// moverBinary builds the worker once per test process, static, for the mover image.
func moverBinary(t testing.TB) string {
	t.Helper()
	moverOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rewind-mover-")
		if err != nil {
			moverBuild = err
			return
		}
		moverPath = filepath.Join(dir, "worker")
		cmd := exec.Command("go", "build", "-o", moverPath, "github.com/algotrendy/rewind/worker")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			moverBuild = fmt.Errorf("build the worker for the mover: %v\n%s", err, out)
		}
	})
	require.NoError(t, moverBuild)
	return moverPath
}

// planRename runs PlanSwap, requires a rename, and returns swap with the inodes it
// recorded.
func planRename(t *testing.T, env *testsuite.TestActivityEnvironment, a *volume.Activities, swap volume.SwapInput) volume.SwapInput {
	t.Helper()
	v, err := env.ExecuteActivity(a.PlanSwap, swap)
	require.NoError(t, err)
	var plan volume.SwapResult
	require.NoError(t, v.Get(&plan))
	require.Equal(t, volume.SwapRename, plan.Method, plan.Why)
	swap.Inodes = plan.Inodes
	return swap
}

// activityEnv runs activities as Temporal runs them: heartbeats, details, cancellation.
func activityEnv(a *volume.Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

func newVolume(t *testing.T, c *client.Client, labels map[string]string) string {
	t.Helper()
	name := uniqueName("rwtest_vol_")
	_, err := c.VolumeCreate(context.Background(), client.VolumeCreateOptions{Name: name, Labels: labels})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		list, _ := c.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("volume", name)})
		for _, ct := range list.Items {
			_, _ = c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true})
		}
		_, _ = c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
	})
	return name
}

type file struct {
	name string
	body []byte
	link string // symlink target
}

// fill writes files into a volume through a stopped container of the demo image.
func fill(t *testing.T, c *client.Client, volume string, files []file) {
	t.Helper()
	ctx := context.Background()
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: demostack.DBImage},
		HostConfig: &container.HostConfig{Binds: []string{volume + ":/data"}},
	})
	require.NoError(t, err)
	defer c.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		writeEntry(t, tw, f)
	}
	require.NoError(t, tw.Close())
	_, err = c.CopyToContainer(ctx, res.ID, client.CopyToContainerOptions{DestinationPath: "/data", Content: &buf})
	require.NoError(t, err)
}

func writeEntry(t *testing.T, tw *tar.Writer, f file) {
	t.Helper()
	hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}
	switch {
	case f.link != "":
		hdr = &tar.Header{Name: f.name, Linkname: f.link, Typeflag: tar.TypeSymlink, Mode: 0o777}
	case strings.HasSuffix(f.name, "/"):
		hdr = &tar.Header{Name: f.name, Typeflag: tar.TypeDir, Mode: 0o755}
	}
	require.NoError(t, tw.WriteHeader(hdr))
	if hdr.Typeflag == tar.TypeReg {
		_, err := tw.Write(f.body)
		require.NoError(t, err)
	}
}

// backupFile writes a tar.gz of entries (names as given) and returns its path.
func backupFile(t *testing.T, entries []file) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "questdb_backup_20261126_010203.tar.gz")
	f, err := os.Create(p)
	require.NoError(t, err)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		writeEntry(t, tw, e)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	require.NoError(t, f.Close())
	return p
}

// contents lists a volume's regular files and symlinks with their sha256 (or link target).
func contents(t *testing.T, c *client.Client, volume string) map[string]string {
	t.Helper()
	ctx := context.Background()
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: demostack.DBImage},
		HostConfig: &container.HostConfig{Binds: []string{volume + ":/data:ro"}},
	})
	require.NoError(t, err)
	defer c.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
	out, err := c.CopyFromContainer(ctx, res.ID, client.CopyFromContainerOptions{SourcePath: "/data"})
	require.NoError(t, err)
	defer out.Content.Close()
	return tarContents(t, out.Content, "data/")
}

func tarContents(t *testing.T, r io.Reader, prefix string) map[string]string {
	t.Helper()
	got := map[string]string{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		require.NoError(t, err)
		name := strings.TrimPrefix(hdr.Name, prefix)
		switch hdr.Typeflag {
		case tar.TypeReg:
			h := sha256.New()
			_, err := io.Copy(h, tr)
			require.NoError(t, err)
			got[name] = hex.EncodeToString(h.Sum(nil))
		case tar.TypeSymlink:
			got[name] = "-> " + hdr.Linkname
		}
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func describe(files []file) map[string]string {
	want := map[string]string{}
	for _, f := range files {
		switch {
		case f.link != "":
			want[f.name] = "-> " + f.link
		case !strings.HasSuffix(f.name, "/"):
			want[f.name] = sum(f.body)
		}
	}
	return want
}

var _ = fmt.Sprintf
