package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/gitrepo"
)

func codeRequest(option string) Request {
	in := fullRequest("P1", "alice")
	in.Option = option
	in.Target.WorkingDir = "/srv/algotrendy"
	in.Target.Image = "algotrendy-api:v2.6-prod"
	in.Target.Build = Build{Dockerfile: "backend/Dockerfile", Image: "algotrendy-api"}
	in.Ref = "v2.5"
	return in
}

func mockGit(env *fullEnv, buildTakes time.Duration) {
	env.RegisterWorkflow(Quick)
	env.RegisterWorkflow(Git)
	env.RegisterActivity(&gitrepo.Activities{})
	var g *gitrepo.Activities
	var d *docker.Activities
	env.OnActivity(g.Resolve, mock.Anything, gitrepo.ResolveInput{Dir: "/srv/algotrendy", Ref: "v2.5"}).
		Return(gitrepo.Resolved{Ref: "v2.5", Commit: "25252525252525252525", Head: "26262626262626262626"}, nil)
	env.OnActivity(g.Checkout, mock.Anything, mock.Anything).Return(func(_ context.Context, in gitrepo.CheckoutInput) (gitrepo.Resolved, error) {
		env.record("checkout " + in.Commit[:4])
		return gitrepo.Resolved{Commit: in.Commit}, nil
	})
	env.OnActivity(g.StashChanges, mock.Anything, mock.Anything).Return(func(_ context.Context, in StashLike) (gitrepo.Stash, error) {
		env.record("stash")
		return gitrepo.Stash{Stashed: true, Commit: "abcdefabcdefabcdef", Label: in.Label, Files: []string{"hotfix.txt"}}, nil
	})
	env.OnActivity(d.RemoveContainers, mock.Anything, mock.Anything).Return(func(context.Context, docker.ProjectInput) (docker.RemoveResult, error) {
		env.record("remove containers")
		return docker.RemoveResult{Removed: []string{"api"}}, nil
	})
	env.OnActivity(d.RemoveImage, mock.Anything, docker.ImageInput{Image: "algotrendy-api:v2.6-prod"}).Return(func(context.Context, docker.ImageInput) (docker.RemoveResult, error) {
		env.record("remove image")
		return docker.RemoveResult{Removed: []string{"algotrendy-api:v2.6-prod"}}, nil
	})
	env.OnActivity(d.BuildImage, mock.Anything, docker.BuildInput{Context: "/srv/algotrendy", Dockerfile: "backend/Dockerfile", Tag: "algotrendy-api:v2.5"}).
		After(buildTakes).Return(func(context.Context, docker.BuildInput) (docker.BuildResult, error) {
		env.record("build v2.5")
		return docker.BuildResult{Tag: "algotrendy-api:v2.5"}, nil
	})
}

// StashLike is the stash input, named here so the mock's signature reads plainly.
type StashLike = gitrepo.StashInput

func TestQuickFollowsOptionOne(t *testing.T) {
	env := newFullEnv(t)
	mockGit(env, 0)
	env.ExecuteWorkflow(Quick, codeRequest(OptionQuick))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"capture", "stop", "remove containers", "remove image", "checkout 2525", "compose up", "verify"}, env.calls)
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "now running v2.5", res.Notice)
	require.Contains(t, res.Report, "Checked out v2.5 (25252525252525252525); the stack ran 26262626262626262626 before.")
}

func TestGitStashesChecksOutAndRebuilds(t *testing.T) {
	env := newFullEnv(t)
	mockGit(env, 0)
	env.ExecuteWorkflow(Git, codeRequest(OptionGit))
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []string{"capture", "stop", "stash", "checkout 2525", "build v2.5", "compose up", "verify"}, env.calls)
	p := env.progress(t)
	for _, s := range p.Steps {
		if s.Name == stepStash {
			require.Contains(t, s.Detail, `stash abcdefabcdef "rewind: rewind-prod default-test-run-id" (hotfix.txt)`)
		}
	}
}

func TestGitCancelledAfterCheckoutGoesBackToTheDeployedVersion(t *testing.T) {
	env := newFullEnv(t)
	mockGit(env, time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	env.ExecuteWorkflow(Git, codeRequest(OptionGit))
	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()))
	require.Equal(t, []string{"capture", "stop", "stash", "checkout 2525", "checkout 2626", "compose up"}, env.calls)
}
