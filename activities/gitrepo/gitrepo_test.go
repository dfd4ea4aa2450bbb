package gitrepo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
)

// repo makes a real git repository with tags v2.5 and v2.6 (HEAD).
func repo(t *testing.T) (string, func(args ...string) string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("v2.5"), 0o644))
	git("add", ".")
	git("commit", "-qm", "v2.5")
	git("tag", "v2.5")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("v2.6"), 0o644))
	git("commit", "-qam", "v2.6")
	git("tag", "v2.6")
	return dir, git
}

func TestResolvePinsVersionsAndNamesTheTagsWhenOneIsMissing(t *testing.T) {
	dir, git := repo(t)
	a := &Activities{}
	ctx := context.Background()
	for _, ref := range []string{"v2.5", "previous-tag", "HEAD~1"} {
		r, err := a.Resolve(ctx, ResolveInput{Dir: dir, Ref: ref})
		require.NoError(t, err, ref)
		require.Equal(t, git("rev-parse", "v2.5"), r.Commit, ref)
		require.Equal(t, git("rev-parse", "v2.6"), r.Head)
	}
	_, err := a.Resolve(ctx, ResolveInput{Dir: dir, Ref: "v9"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, ErrBadRef, appErr.Type())
	require.Contains(t, err.Error(), `has no version "v9"; its tags: v2.6, v2.5`)
	_, err = a.Resolve(ctx, ResolveInput{Dir: t.TempDir(), Ref: "v2.5"})
	require.ErrorContains(t, err, "is not a git checkout")
}

func TestStashAndCheckoutAreSafeToRetry(t *testing.T) {
	dir, git := repo(t)
	a := &Activities{}
	ctx := context.Background()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hotfix.txt"), []byte("by hand"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("edited"), 0o644))

	first, err := a.StashChanges(ctx, StashInput{Dir: dir, Label: "rewind: rewind-prod run-1"})
	require.NoError(t, err)
	require.True(t, first.Stashed)
	require.ElementsMatch(t, []string{"app.txt", "hotfix.txt"}, first.Files)
	again, err := a.StashChanges(ctx, StashInput{Dir: dir, Label: "rewind: rewind-prod run-1"})
	require.NoError(t, err)
	require.Equal(t, first.Commit, again.Commit, "a retry finds its own stash instead of stashing again")
	require.Len(t, strings.Split(git("stash", "list"), "\n"), 1)

	target := git("rev-parse", "v2.5")
	for range 2 {
		_, err := a.Checkout(ctx, CheckoutInput{Dir: dir, Commit: target})
		require.NoError(t, err)
		require.Equal(t, target, git("rev-parse", "HEAD"))
	}
	body, err := os.ReadFile(filepath.Join(dir, "app.txt"))
	require.NoError(t, err)
	require.Equal(t, "v2.5", string(body))
	_, err = a.Checkout(ctx, CheckoutInput{Dir: dir, Commit: git("rev-parse", "v2.6"), Reset: true})
	require.NoError(t, err)
	require.Equal(t, git("rev-parse", "v2.6"), git("rev-parse", "HEAD"))
}
