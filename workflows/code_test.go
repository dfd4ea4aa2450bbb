package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

func codeRequest(option string) api.Request {
	req := request(option, "P1", "alice")
	req.Ref = "v2.5"
	return req
}

func TestQuickFollowsOptionOneKeepsLocalChangesAndRemovesTheOldImageLast(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.ExecuteWorkflow(Quick, codeRequest(api.OptionQuick))
	require.NoError(t, r.GetWorkflowError())
	require.Equal(t, []string{
		"notify started", "capture", "list newest", "note rollback_reason.txt", "resolve", "mounts", "check move", "stop", "stash", "remove containers", "checkout 2525",
		"compose up", "wait healthy", "verify", "remove image", "note decisions.json", "note incident_report.md", "notify finished",
	}, r.calls)
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "now running v2.5", res.Notice)
	require.Contains(t, res.Report, "Checked out v2.5 (25252525252525252525); the stack ran 26262626262626262626 before.")
	require.Contains(t, r.protected, "/srv/algotrendy/data", "the stack's bind mounts are protected")
	require.Contains(t, r.protected, "/backups", "so are its backups")
	require.Equal(t, []string{"data"}, r.excluded, "the stash leaves the protected folders alone")
	require.Contains(t, res.Report, "## Local changes\n\nStashed as abcdefabcdefabcdef (\"rewind: rewind-prod default-test-run-id\"): docker-compose.prod.yml.\nGet them back in the stack's checkout with `git stash apply abcdefabcdefabcdef`.")
}

func TestGitStashesChecksOutAndRebuilds(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.ExecuteWorkflow(Git, codeRequest(api.OptionGit))
	require.NoError(t, r.GetWorkflowError())
	require.Equal(t, []string{
		"notify started", "capture", "list newest", "note rollback_reason.txt", "resolve", "mounts", "check move", "stop", "stash", "checkout 2525", "build algotrendy-api:v2.5",
		"compose up", "wait healthy", "verify", "note decisions.json", "note incident_report.md", "notify finished",
	}, r.calls)
	for _, s := range r.progress().Steps {
		if s.Name == stepKeep {
			require.Equal(t, `stash abcdefabcdef "rewind: rewind-prod default-test-run-id" (docker-compose.prod.yml)`, s.Detail)
		}
	}
}

func TestGitFailedBuildPutsTheCheckoutTheLocalChangesAndTheStackBack(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["build algotrendy-api:v2.5"] = temporal.NewNonRetryableApplicationError("no Dockerfile", failure.BadInput, nil)
	r.ExecuteWorkflow(Git, codeRequest(api.OptionGit))
	err := r.GetWorkflowError()
	require.ErrorContains(t, err, "put back and healthy: checkout back at 262626262626, local changes applied again, the stack started again")
	require.Equal(t, []string{"checkout 2626", "apply stash", "compose up", "wait healthy", "notify failed"}, r.calls[r.index("build algotrendy-api:v2.5")+1:])
}

func TestGitCancelledDuringTheBuildGoesBackToTheDeployedVersion(t *testing.T) {
	var d *docker.Activities
	r := newRig(t, rigOptions{first: func(r *rig) {
		r.OnActivity(d.BuildImage, mock.Anything, mock.Anything).After(time.Hour).Return(docker.BuildResult{}, nil).Once()
	}})
	r.RegisterDelayedCallback(r.CancelWorkflow, 10*time.Minute)
	r.ExecuteWorkflow(Git, codeRequest(api.OptionGit))
	require.True(t, temporal.IsCanceledError(r.GetWorkflowError()))
	require.Equal(t, []string{"checkout 2626", "apply stash", "compose up", "wait healthy", "notify failed"}, r.calls[r.index("checkout 2525")+1:])
}

func TestQuickToAnUnknownVersionChangesNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["resolve"] = temporal.NewNonRetryableApplicationError(`/srv/algotrendy has no version "v9"`, "BadRef", errors.New("x"))
	r.ExecuteWorkflow(Quick, codeRequest(api.OptionQuick))
	require.ErrorContains(t, r.GetWorkflowError(), `has no version "v9"; nothing was changed`)
	require.False(t, r.ran("stop"))
}

func TestAMoveThatWouldTouchTheStacksDataChangesNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["check move"] = temporal.NewNonRetryableApplicationError("checking out 252525252525 would remove data/seed.csv (in data/, which the stack or Rewind keeps data in); nothing was changed", "BlockedCheckout", nil)
	r.ExecuteWorkflow(Git, codeRequest(api.OptionGit))
	require.ErrorContains(t, r.GetWorkflowError(), "would remove data/seed.csv")
	require.False(t, r.ran("stop"), "refused before the stack stopped")
	require.False(t, r.ran("stash"))
}
