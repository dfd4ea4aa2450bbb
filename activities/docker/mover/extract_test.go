package mover

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stream writes entries as the worker sends them: normalized, each with its backup index.
func stream(t *testing.T, entries []*tar.Header, bodies map[string][]byte) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i, h := range entries {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords[IndexRecord] = strconv.Itoa(i * 2) // indexes of the backup, not of the stream
		h.Format = tar.FormatPAX
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write(bodies[h.Name])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return &buf
}

func TestExtractWritesHolesFolderTimesLastAndAcksSyncedBatches(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	sparse := make([]byte, 8<<20)
	copy(sparse[4<<20:], "data in the middle")
	bodies := map[string][]byte{"db/a": bytes.Repeat([]byte("a"), 3<<20), "db/sparse": sparse, "db/b": []byte("b")}
	entries := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o750, ModTime: mtime},
		{Name: "db/", Typeflag: tar.TypeDir, Mode: 0o500, ModTime: mtime}, // read-only: written into before its mode is set
		{Name: "db/a", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3 << 20, ModTime: mtime},
		{Name: "db/sparse", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8 << 20, ModTime: mtime, PAXRecords: map[string]string{SparseRecord: "1"}},
		{Name: "db/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime},
		{Name: "db/link", Typeflag: tar.TypeSymlink, Linkname: "a", ModTime: mtime},
		{Name: "db/hard", Typeflag: tar.TypeLink, Linkname: "db/b"},
	}
	var acks []Ack
	require.NoError(t, Extract(stream(t, entries, bodies), root, 2<<20, func(a Ack) error { acks = append(acks, a); return nil }))

	require.Equal(t, []Ack{{Index: 4, Bytes: 3 << 20}, {Index: 6, Bytes: 8 << 20}, {Index: 12, Bytes: 1, Done: true}}, stripRSS(acks),
		"an ack after each batch of 2 MiB, naming the last backup index in it, and one at the end")
	require.Positive(t, acks[len(acks)-1].PeakRSS)
	for name, body := range bodies {
		got, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err)
		require.Equal(t, body, got, name)
	}
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(filepath.Join(root, "db/sparse"), &st))
	require.Less(t, st.Blocks*512, int64(1<<20), "the sparse file keeps its holes")
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

func stripRSS(acks []Ack) []Ack {
	out := make([]Ack, len(acks))
	for i, a := range acks {
		a.PeakRSS = 0
		out[i] = a
	}
	return out
}

func TestExtractAgainOverwritesWhatAnEarlierAttemptWrote(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "half"), []byte("half of it"), 0o644))
	require.NoError(t, os.Symlink("elsewhere", filepath.Join(root, "link")))
	entries := []*tar.Header{
		{Name: "half", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "half"},
	}
	require.NoError(t, Extract(stream(t, entries, map[string][]byte{"half": []byte("whole")}), root, 1<<20, func(Ack) error { return nil }))
	got, err := os.ReadFile(filepath.Join(root, "link"))
	require.NoError(t, err)
	require.Equal(t, "whole", string(got))
}

func TestExtractRefusesEntriesLeavingTheVolume(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"../escape", "/abs", "db/../../x"} {
		err := Extract(stream(t, []*tar.Header{{Name: name, Typeflag: tar.TypeReg, Size: 1}}, map[string][]byte{name: []byte("x")}), root, 1<<20, func(Ack) error { return nil })
		require.ErrorContains(t, err, "leaves the volume", name)
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	require.Empty(t, entries)
}
