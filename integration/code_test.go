package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows"
)

func tagImage(t testing.TB, c *client.Client, target string) {
	t.Helper()
	_, err := c.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: target})
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = c.ImageRemove(context.Background(), target, client.ImageRemoveOptions{}) })
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
	v25 := e.git("rev-parse", "v2.5")
	e.startWorker()

	code, out, errOut := e.rewind("start", "quick", "--stack", e.stack, "--severity", "P1", "--reason", "API 500s after v2.6", "--as", "alice", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "now running v2.5", "without --to it goes to the tag before the deployed one")

	require.Equal(t, v25, e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "the stack runs the previous version")
	_, err = s.engine.ImageInspect(context.Background(), demostack.APIImage+":"+e.project)
	require.Error(t, err, "the deployed image was removed")
	code, report, errOut := e.rewind("report", workflows.WorkflowID(e.stack))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, "Checked out v2.5 ("+v25+")")
	require.Contains(t, report, "| api health | pass |")
	recordHistory(t, c, workflows.WorkflowID(e.stack), "quick.json")
}

func TestGitRollbackStashesRebuildsAndStartsTheOlderVersion(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, repo: true})
	tagImage(t, s.engine, demostack.APIImage+":"+e.project)
	_, _ = s.engine.ImageRemove(context.Background(), demostack.APIImage+":v2.5", client.ImageRemoveOptions{})
	e.up()
	// Someone hot-fixed the host: the rollback must keep their changes.
	require.NoError(t, os.WriteFile(filepath.Join(e.repo, "hotfix.txt"), []byte("tuned by hand"), 0o644))
	e.startWorker()

	code, out, errOut := e.rewind("start", "git", "--stack", e.stack, "--severity", "P1", "--reason", "bug in v2.6", "--as", "alice", "--to", "v2.5", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "Keep local changes (stash, recorded): stash ")
	require.Contains(t, out, "(hotfix.txt)")
	require.Contains(t, out, "Build the image of that version: algotrendy-api:v2.5")

	require.Equal(t, e.git("rev-parse", "v2.5"), e.git("rev-parse", "HEAD"))
	require.Contains(t, e.git("stash", "list"), "rewind: rewind-demo", "the local changes are kept in a named stash")
	require.NoFileExists(t, filepath.Join(e.repo, "hotfix.txt"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "the stack runs the image rebuilt from v2.5")
	recordHistory(t, c, workflows.WorkflowID(e.stack), "git.json")
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
