package gitrepo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/gitref/gitreftest"
)

func TestStashAndCheckoutAreSafeToRetry(t *testing.T) {
	dir, git := gitreftest.Repo(t)
	a := &Activities{}
	ctx := context.Background()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hotfix.txt"), []byte("by hand"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("edited"), 0o644))

	first, err := a.StashChanges(ctx, StashInput{Dir: dir, Label: "rewind: rewind-prod run-1"})
	require.NoError(t, err)
	require.True(t, first.Stashed)
	require.Equal(t, []string{"app.txt"}, first.Files, "tracked edits are stashed")
	require.FileExists(t, filepath.Join(dir, "hotfix.txt"), "an untracked file stays where it is")
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

func TestCheckMoveRefusesToTouchProtectedFoldersOrUntrackedFiles(t *testing.T) {
	dir, git := gitreftest.Repo(t)
	a := &Activities{}
	ctx := context.Background()
	// v2.7 adds data/seed.csv, removes app.txt and adds notes.txt.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data/seed.csv"), []byte("1"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("v2.7"), 0o644))
	git("add", ".")
	git("rm", "-q", "app.txt")
	git("commit", "-qm", "v2.7")
	v27 := git("rev-parse", "HEAD")
	git("checkout", "-q", "v2.6")

	m, err := a.CheckMove(ctx, CheckMoveInput{Dir: dir, Commit: v27, Protected: []string{filepath.Join(dir, "backups"), "/var/lib/elsewhere"}})
	require.NoError(t, err, "nothing protected changes")
	require.Equal(t, 3, m.Changed)
	require.Equal(t, []string{"backups"}, m.Protected, "only folders inside the checkout count")

	_, err = a.CheckMove(ctx, CheckMoveInput{Dir: dir, Commit: v27, Protected: []string{filepath.Join(dir, "data")}})
	require.ErrorContains(t, err, "would change data/seed.csv (in data/, which the stack or Rewind keeps data in)")
	_, err = a.CheckMove(ctx, CheckMoveInput{Dir: git("rev-parse", "--show-toplevel"), Commit: git("rev-parse", "v2.5"), Protected: []string{filepath.Join(dir, "app.txt")}})
	require.ErrorContains(t, err, "would change app.txt")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	_, err = a.CheckMove(ctx, CheckMoveInput{Dir: dir, Commit: v27})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.BlockedCheckout, appErr.Type())
	require.Contains(t, err.Error(), "overwrite notes.txt, which git does not track")
	require.Equal(t, git("rev-parse", "v2.6"), git("rev-parse", "HEAD"), "nothing moved")
}

func TestStashLeavesExcludedFoldersAlone(t *testing.T) {
	dir, git := gitreftest.Repo(t)
	a := &Activities{}
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data/state.json"), []byte("{}"), 0o644))
	git("add", ".")
	git("commit", "-qm", "data")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data/state.json"), []byte(`{"live":true}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app.txt"), []byte("hot-fix"), 0o644))

	s, err := a.StashChanges(ctx, StashInput{Dir: dir, Label: "rewind: x", Exclude: []string{"data"}})
	require.NoError(t, err)
	require.Equal(t, []string{"app.txt"}, s.Files)
	body, err := os.ReadFile(filepath.Join(dir, "data/state.json"))
	require.NoError(t, err)
	require.Equal(t, `{"live":true}`, string(body), "a bind-mounted folder's live file is not stashed away")
}
