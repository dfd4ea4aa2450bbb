package evidence

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocalPutReplacesWholeFilesInsideItsFolder(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(dir)
	require.NoError(t, err)
	ctx := context.Background()
	name := Prefix("20261126", "rewind-prod") + "/emergency_stop.log"

	require.NoError(t, s.Put(ctx, name, strings.NewReader("first, longer text")))
	require.NoError(t, s.Put(ctx, name, strings.NewReader("second")))

	got, err := os.ReadFile(filepath.Join(dir, "incidents/20261126/rewind-prod/emergency_stop.log"))
	require.NoError(t, err)
	require.Equal(t, "second", string(got), "a retried write leaves one whole file")
	require.Equal(t, filepath.Join(dir, "incidents/20261126/rewind-prod/emergency_stop.log"), s.Location(name))
	entries, err := os.ReadDir(filepath.Join(dir, "incidents/20261126/rewind-prod"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

func TestLocalRefusesNamesThatLeaveTheStore(t *testing.T) {
	dir := t.TempDir()
	s, err := NewLocal(filepath.Join(dir, "store"))
	require.NoError(t, err)
	for _, name := range []string{"../outside", "incidents/../../outside", ""} {
		err := s.Put(context.Background(), name, strings.NewReader("x"))
		require.ErrorContains(t, err, "want a relative path inside the evidence store", name)
	}
	_, err = os.Stat(filepath.Join(dir, "outside"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestNoteWritesTextAndReturnsItsLocation(t *testing.T) {
	s, err := NewLocal(t.TempDir())
	require.NoError(t, err)
	a := &Activities{Store: s}
	loc, err := a.Note(context.Background(), NoteInput{Name: "incidents/x/note.txt", Text: "offline"})
	require.NoError(t, err)
	got, err := os.ReadFile(loc)
	require.NoError(t, err)
	require.Equal(t, "offline", string(got))
}
