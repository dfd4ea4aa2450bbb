package mover

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/failure"
)

// stream is a backup's tar stream as the worker's gzip tool hands it to the mover.
func stream(t *testing.T, entries []*tar.Header, bodies map[string][]byte) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write(bodies[h.Name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return &buf
}

func restore(t *testing.T, root string, entries []*tar.Header, bodies map[string][]byte, batch int64) ([]Ack, error) {
	var acks []Ack
	err := Restore(context.Background(), stream(t, entries, bodies), root, RestoreOptions{Layout: archive.FlatLayout(), Batch: batch},
		func(a Ack) error { acks = append(acks, a); return nil })
	return acks, err
}

func TestRestoreWritesFolderTimesLastAndAcksBatches(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	bodies := map[string][]byte{"db/a": bytes.Repeat([]byte("a"), 3<<20), "db/c": bytes.Repeat([]byte("c"), 8<<20), "db/b": []byte("b")}
	entries := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750, ModTime: mtime},
		{Name: "db/", Typeflag: tar.TypeDir, Mode: 0o500, ModTime: mtime}, // read-only: written into before its mode is set
		{Name: "db/a", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3 << 20, ModTime: mtime},
		{Name: "db/c", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8 << 20, ModTime: mtime},
		{Name: "db/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime},
		{Name: "db/link", Typeflag: tar.TypeSymlink, Linkname: "a", ModTime: mtime},
		{Name: "db/hard", Typeflag: tar.TypeLink, Linkname: "db/b"},
	}
	acks, err := restore(t, root, entries, bodies, 2<<20)
	require.NoError(t, err)

	last := acks[len(acks)-1]
	require.True(t, last.Done)
	require.Positive(t, last.PeakRSS)
	require.Equal(t, 7, last.Summary.Entries)
	last.PeakRSS, last.Summary = 0, nil
	acks[len(acks)-1] = last
	require.Equal(t, []Ack{{Index: 2, Bytes: 3 << 20}, {Index: 3, Bytes: 8 << 20}, {Index: 6, Bytes: 1, Done: true}}, acks,
		"an ack after each batch of 2 MiB, naming the last backup entry in it, and one at the end")
	for name, body := range bodies {
		got, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err)
		require.Equal(t, body, got, name)
	}
	db, err := os.Stat(filepath.Join(root, "db"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o500), db.Mode().Perm())
	require.Equal(t, mtime, db.ModTime().UTC(), "folder times are set after their content is written")
	top, err := os.Stat(root)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o750), top.Mode().Perm(), "the volume's root takes the backup's mode")
	target, err := os.Readlink(filepath.Join(root, "db/link"))
	require.NoError(t, err)
	require.Equal(t, "a", target)
	hard, err := os.Stat(filepath.Join(root, "db/hard"))
	require.NoError(t, err)
	b, err := os.Stat(filepath.Join(root, "db/b"))
	require.NoError(t, err)
	require.True(t, os.SameFile(hard, b), "a hard link is one inode")
}

func TestRestoreAgainOverwritesWhatAnEarlierAttemptWrote(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "half"), []byte("half of it"), 0o644))
	require.NoError(t, os.Symlink("elsewhere", filepath.Join(root, "link")))
	entries := []*tar.Header{
		{Name: "half", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "half"},
	}
	_, err := restore(t, root, entries, map[string][]byte{"half": []byte("whole")}, 1<<20)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(root, "link"))
	require.NoError(t, err)
	require.Equal(t, "whole", string(got))
}

func TestRestoreRefusesEntriesLeavingTheVolume(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"../escape", "/abs", "db/../../x"} {
		acks, err := restore(t, root, []*tar.Header{{Name: name, Typeflag: tar.TypeReg, Size: 1}}, map[string][]byte{name: []byte("x")}, 1<<20)
		require.Equal(t, failure.UnsafeEntry, archive.ErrorType(err), "%s: %v", name, err)
		require.Equal(t, failure.UnsafeEntry, acks[len(acks)-1].Refused, "the worker is told which rule")
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Empty(t, entries)
}
