package evidence

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/storage"
)

func TestEachRunHasItsOwnFolder(t *testing.T) {
	require.Equal(t, "incidents/20261126/rewind-prod/run-1", Prefix("20261126", "rewind-prod", "run-1"))
	require.NotEqual(t, Prefix("20261126", "rewind-prod", "run-1"), Prefix("20261126", "rewind-prod", "run-2"))
}

func TestNoteWritesTextAndReturnsItsLocation(t *testing.T) {
	s, err := storage.NewFolder(t.TempDir())
	require.NoError(t, err)
	a := &Activities{Store: s}
	name := Prefix("20261126", "rewind-prod", "run-1") + "/emergency_stop.log"
	loc, err := a.Note(context.Background(), NoteInput{Name: name, Text: "offline, longer text"})
	require.NoError(t, err)
	loc, err = a.Note(context.Background(), NoteInput{Name: name, Text: "offline"})
	require.NoError(t, err)
	got, err := os.ReadFile(loc)
	require.NoError(t, err)
	require.Equal(t, "offline", string(got), "a retried note leaves one whole file")
	entries, err := os.ReadDir(filepath.Dir(loc))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left behind")
}
