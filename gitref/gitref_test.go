package gitref_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/gitref"
	"github.com/algotrendy/rewind/gitref/gitreftest"
)

func TestResolvePinsVersionsAndNamesTheTagsWhenOneIsMissing(t *testing.T) {
	dir, git := gitreftest.Repo(t)
	ctx := context.Background()
	for _, ref := range []string{"v2.5", gitref.PreviousTag, "HEAD~1"} {
		r, err := gitref.Resolve(ctx, dir, ref)
		require.NoError(t, err, ref)
		require.Equal(t, git("rev-parse", "v2.5"), r.Commit, ref)
		require.Equal(t, git("rev-parse", "v2.6"), r.Head)
		if ref == gitref.PreviousTag {
			require.Equal(t, "v2.5", r.Ref, "the tag before is named")
		}
	}
	_, err := gitref.Resolve(ctx, dir, "v9")
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.BadRef, appErr.Type())
	require.True(t, appErr.NonRetryable())
	require.Contains(t, err.Error(), `has no version "v9"; its tags: v2.6, v2.5`)
	_, err = gitref.Resolve(ctx, t.TempDir(), "v2.5")
	require.ErrorContains(t, err, "is not a git checkout")
}

func TestGitKeepsLeadingSpacesAndNamesWhatFailed(t *testing.T) {
	dir, git := gitreftest.Repo(t)
	git("rm", "-q", "--cached", "app.txt")
	status, err := gitref.Git(context.Background(), dir, "status", "--porcelain")
	require.NoError(t, err)
	require.Equal(t, "D  app.txt\n?? app.txt", status)
	_, err = gitref.Git(context.Background(), dir, "rev-parse", "--verify", "nosuch")
	require.ErrorContains(t, err, "git rev-parse --verify nosuch in "+dir)
}
