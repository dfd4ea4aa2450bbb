package storage

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFolderPutReplacesWholeFilesInsideItsFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFolder(dir)
	require.NoError(t, err)
	ctx := context.Background()
	name := "incidents/20261126/rewind-prod/run/emergency_stop.log"

	require.NoError(t, s.Put(ctx, name, strings.NewReader("first, longer text")))
	require.NoError(t, s.Put(ctx, name, strings.NewReader("second")))

	got, err := os.ReadFile(filepath.Join(dir, name))
	require.NoError(t, err)
	require.Equal(t, "second", string(got), "a retried write leaves one whole file")
	require.Equal(t, filepath.Join(dir, name), s.Location(name))
	entries, err := os.ReadDir(filepath.Dir(filepath.Join(dir, name)))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

func TestFolderRefusesNamesThatLeaveIt(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFolder(filepath.Join(dir, "store"))
	require.NoError(t, err)
	for _, name := range []string{"../outside", "incidents/../../outside", ""} {
		err := s.Put(context.Background(), name, strings.NewReader("x"))
		require.ErrorContains(t, err, "want a relative path inside", name)
	}
	_, err = os.Stat(filepath.Join(dir, "outside"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestFolderPutFileCopiesAcrossFilesystemsInParts(t *testing.T) {
	// PutFile copies like this when the file lies on another filesystem than the store.
	src := filepath.Join(t.TempDir(), "snapshot.tar.gz")
	body := strings.Repeat("rewind", 5<<20)
	require.NoError(t, os.WriteFile(src, []byte(body), 0o600))
	dst, err := NewFolder(t.TempDir())
	require.NoError(t, err)
	var parts int
	require.NoError(t, dst.copyResumable(context.Background(), filepath.Join(dst.Dir, "copy"), mustOpen(t, src), int64(len(body)),
		func(UploadCheckpoint) { parts++ }))
	got, err := os.ReadFile(filepath.Join(dst.Dir, "copy"))
	require.NoError(t, err)
	require.Equal(t, body, string(got))
	require.Equal(t, 2, parts, "30 MiB in 16 MiB parts")

	rc, err := dst.Open(context.Background(), "copy", int64(len(body))-6)
	require.NoError(t, err)
	tail, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	require.Equal(t, "rewind", string(tail))
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
