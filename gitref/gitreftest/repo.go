// Package gitreftest makes real git checkouts for the tests of gitref and of the git
// activities.
package gitreftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Repo makes a real git repository with tags v2.5 and v2.6 (HEAD), and a git that runs in it.
func Repo(t testing.TB) (string, func(args ...string) string) {
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
