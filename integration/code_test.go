package integration

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

func tagImage(t testing.TB, c *client.Client, target string) {
	t.Helper()
	_, err := c.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: target})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = c.ImageRemove(context.Background(), target, client.ImageRemoveOptions{}) })
}

// fileState is what "byte for byte, never moved" compares: content, size, inode, mtime.
type fileState struct {
	sum   string
	size  int64
	inode uint64
	mtime time.Time
}

func stateOf(t testing.TB, path string) fileState {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	info, err := f.Stat()
	require.NoError(t, err)
	return fileState{sum: hex.EncodeToString(h.Sum(nil)), size: info.Size(), inode: info.Sys().(*syscall.Stat_t).Ino, mtime: info.ModTime()}
}

// bigBackup puts a 1 GiB backup with its sidecar into the checkout's untracked backups/
// folder (sparse after its first MiB, so the test disk stays small).
func (e *env) bigBackup() (string, fileState) {
	e.t.Helper()
	require.NoError(e.t, os.MkdirAll(e.backups, 0o755))
	path := filepath.Join(e.backups, "questdb_backup_20261120_000000.tar.gz")
	head := make([]byte, 1<<20)
	for i := range head {
		head[i] = byte(i * 7)
	}
	require.NoError(e.t, os.WriteFile(path, head, 0o644))
	require.NoError(e.t, os.Truncate(path, 1<<30))
	st := stateOf(e.t, path)
	require.NoError(e.t, os.WriteFile(path+".sha256", []byte(st.sum+"  "+filepath.Base(path)+"\n"), 0o644))
	return path, st
}

// keptLocalWork checks a code rollback left the operator's work where they can find it:
// the backups untouched on disk, the hot-fix in a stash named for the run and listed in
// the report with how to get it back.
func (e *env) keptLocalWork(backup string, before fileState) {
	e.t.Helper()
	require.Equal(e.t, before, stateOf(e.t, backup), "the backup is on disk byte for byte, never moved")
	require.FileExists(e.t, backup+".sha256")
	require.Contains(e.t, e.git("status", "--porcelain"), "?? backups/", "the backups are still untracked files of the checkout")

	stashes := strings.Split(e.git("stash", "list", "--format=%H %s"), "\n")
	require.Len(e.t, stashes, 1)
	commit, label, _ := strings.Cut(stashes[0], " ")
	require.Contains(e.t, label, "rewind: "+api.WorkflowID(e.stack), "the stash carries the run")
	require.Equal(e.t, "conf/app.conf", e.git("stash", "show", "--name-only", commit), "the stash holds the hot-fix and nothing else")
	require.Contains(e.t, e.git("stash", "show", "-p", commit), "+workers=16 # tuned by hand")
	body, err := os.ReadFile(filepath.Join(e.repo, "conf/app.conf"))
	require.NoError(e.t, err)
	require.Equal(e.t, "workers=4\n", string(body), "the checkout holds the version rolled back to")

	code, report, errOut := e.rewind("report", api.WorkflowID(e.stack))
	require.Equal(e.t, 0, code, errOut)
	require.Contains(e.t, report, "## Local changes")
	require.Contains(e.t, report, fmt.Sprintf("Stashed as %s", commit))
	require.Contains(e.t, report, ": conf/app.conf.")
	require.Contains(e.t, report, "git stash apply "+commit)
}

// apiEntry is the header of one path inside the running api container.
func (e *env) apiEntry(path string) *tar.Header {
	e.t.Helper()
	copied, err := e.s.engine.CopyFromContainer(context.Background(), e.apiContainer(), client.CopyFromContainerOptions{SourcePath: path})
	require.NoError(e.t, err)
	defer copied.Content.Close()
	hdr, err := tar.NewReader(copied.Content).Next()
	require.NoError(e.t, err)
	return hdr
}

func TestQuickRollbackGoesBackToThePreviousTag(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, repo: true})
	_, err := s.engine.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: demostack.APIImage + ":v2.5"})
	require.NoError(t, err)
	tagImage(t, s.engine, demostack.APIImage+":"+e.project) // the "deployed" image quick removes
	e.up()
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage())
	backup, before := e.bigBackup()
	e.hotFix()
	v25 := e.git("rev-parse", "v2.5")
	e.startWorker()

	code, out, errOut := e.rewind("start", "quick", "--stack", e.stack, "--severity", "P1", "--reason", "API 500s after v2.6", "--as", "alice", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "now running v2.5", "without --to it goes to the tag before the deployed one")
	require.Contains(t, out, "left alone: backups")

	require.Equal(t, v25, e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "the stack runs the previous version")
	_, err = s.engine.ImageInspect(context.Background(), demostack.APIImage+":"+e.project)
	require.Error(t, err, "the deployed image was removed")
	e.keptLocalWork(backup, before)
	code, report, errOut := e.rewind("report", api.WorkflowID(e.stack))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, "Checked out v2.5 ("+v25+")")
	require.Contains(t, report, "| api health | pass |")
	recordHistory(t, c, api.WorkflowID(e.stack), "quick.json")
}

func TestGitRollbackStashesRebuildsAndStartsTheOlderVersion(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	direct := fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, repo: true, config: direct})
	tagImage(t, s.engine, demostack.APIImage+":"+e.project)
	_, _ = s.engine.ImageRemove(context.Background(), demostack.APIImage+":v2.5", client.ImageRemoveOptions{})
	e.up()
	backup, before := e.bigBackup()
	e.hotFix()
	proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{})
	e.startWorker("DOCKER_HOST=" + proxy.host())

	code, out, errOut := e.rewind("start", "git", "--stack", e.stack, "--severity", "P1", "--reason", "bug in v2.6", "--as", "alice", "--to", "v2.5", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "Keep local changes (stash, recorded): stash ")
	require.Contains(t, out, "(conf/app.conf)")
	require.Contains(t, out, "Build the image of that version: algotrendy-api:v2.5")

	require.Equal(t, e.git("rev-parse", "v2.5"), e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "the stack runs the image rebuilt from v2.5")
	e.keptLocalWork(backup, before)
	sent := proxy.buildBytes.Load()
	t.Logf("build context sent to the engine: %d bytes (the checkout holds a 1 GiB backup)", sent)
	require.NotZero(t, sent, "the build went through the engine")
	require.Less(t, sent, int64(1<<20), "the backups stay out of the build context")
	link := e.apiEntry("/conf/current.conf")
	require.Equal(t, byte(tar.TypeSymlink), link.Typeflag, "the symlink arrived as a symlink")
	require.Equal(t, "app.conf", link.Linkname)
	recordHistory(t, c, api.WorkflowID(e.stack), "git.json")
}

func TestCodeRollbackRefusesToRemoveABindMountedFolder(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, repo: true,
		override: "services:\n  api:\n    volumes: [\"./data:/srv/data\"]\n"})
	tagImage(t, s.engine, demostack.APIImage+":"+e.project)
	// v2.6.1 keeps the api's seed data in data/, a folder v2.5 does not have.
	require.NoError(t, os.MkdirAll(filepath.Join(e.repo, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(e.repo, "data/seed.csv"), []byte("symbol,price\nBTCUSDT,91000\n"), 0o644))
	e.git("add", "data")
	e.git("commit", "-q", "-m", "AlgoTrendy v2.6.1")
	e.up()
	head := e.git("rev-parse", "HEAD")
	running := e.apiStarted()
	e.startWorker()

	code, out, errOut := e.rewind("start", "git", "--stack", e.stack, "--severity", "P1", "--reason", "bug in v2.6.1", "--as", "alice", "--to", "v2.5", "--wait")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "would remove data/seed.csv (in data/, which the stack or Rewind keeps data in); nothing was changed")
	require.Equal(t, head, e.git("rev-parse", "HEAD"))
	require.FileExists(t, filepath.Join(e.repo, "data/seed.csv"))
	require.Empty(t, e.git("stash", "list"))
	require.Equal(t, running, e.apiStarted(), "the stack was never stopped")
}

// apiStarted is the api container's ID and start time: a stop or restart changes it.
func (e *env) apiStarted() string {
	e.t.Helper()
	id := e.apiContainer()
	info, err := e.s.engine.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	require.NoError(e.t, err)
	require.True(e.t, info.Container.State.Running, "the api runs")
	return id + " started " + info.Container.State.StartedAt
}

func TestQuickRollbackToAnUnknownVersionChangesNothing(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, repo: true})
	e.up()
	head := e.git("rev-parse", "HEAD")
	e.startWorker()

	code, _, errOut := e.rewind("start", "quick", "--stack", e.stack, "--severity", "P1", "--reason", "r", "--as", "alice", "--to", "v9.9", "--wait")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, `has no version "v9.9"; its tags: v2.6, v2.5`)
	require.Equal(t, head, e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage(), "the stack still runs")
}
