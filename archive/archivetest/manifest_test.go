package archivetest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive/archivetest"
)

// TestDiffNamesWhatDiffers: each difference is one line naming the path and the field.
func TestDiffNamesWhatDiffers(t *testing.T) {
	want, got := t.TempDir(), t.TempDir()
	for _, root := range []string{want, got} {
		require.NoError(t, os.WriteFile(filepath.Join(root, "same"), []byte("x"), 0o644))
		require.NoError(t, os.Chmod(root, 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(want, "content"), []byte("old"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(got, "content"), []byte("new"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(want, "a"), nil, 0o644))
	require.NoError(t, os.Link(filepath.Join(want, "a"), filepath.Join(want, "b")))
	require.NoError(t, os.WriteFile(filepath.Join(got, "a"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(got, "b"), nil, 0o644))
	require.NoError(t, os.Symlink("same", filepath.Join(want, "link")))
	require.NoError(t, os.Symlink("other", filepath.Join(got, "link")))
	require.NoError(t, os.WriteFile(filepath.Join(want, "gone"), nil, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(got, "extra"), 0o755))

	w, err := archivetest.ReadManifest(want)
	require.NoError(t, err)
	g, err := archivetest.ReadManifest(got)
	require.NoError(t, err)
	require.Empty(t, archivetest.Diff(w, w), "a manifest equals itself")
	require.Equal(t, []string{
		"gone: missing file",
		"link: target same, got other",
		"extra: unexpected dir",
	}, archivetest.Diff(w, g, archivetest.FieldModTime, archivetest.FieldSHA256, archivetest.FieldLinkGroup, archivetest.FieldMode),
		"in path order, extras last, ignored fields left out")
	diff := archivetest.Diff(w, g, archivetest.FieldModTime)
	require.Subset(t, diff, []string{
		"a: link group a, got ",
		"b: link group a, got ",
		"content: mode -rw-r--r--, got -rw-------",
	})
	require.Len(t, diff, 7, "and content's sha256: %v", diff)
}
