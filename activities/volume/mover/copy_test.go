package mover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// sourceTree writes a staging volume's kinds of content under dir: nested folders with
// their own modes and times, files past a batch, a sparse file, a symlink, a hard link and
// an extended attribute.
func sourceTree(t *testing.T, dir string) {
	t.Helper()
	mtime := time.Date(2026, 11, 27, 1, 2, 3, 456789000, time.UTC)
	write := func(name string, size int) {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(i*7 + len(name))
		}
		require.NoError(t, os.WriteFile(p, b, 0o640))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	write("db/col-0001.d", 3<<20)
	write("db/col-0002.d", 3<<20)
	write("db/meta/_txn", 4096)
	write("conf/server.conf", 100)
	sparse, err := os.Create(filepath.Join(dir, "db/holes.d"))
	require.NoError(t, err)
	_, err = sparse.WriteAt([]byte("end"), 32<<20)
	require.NoError(t, err)
	require.NoError(t, sparse.Close())
	require.NoError(t, os.Symlink("col-0001.d", filepath.Join(dir, "db/latest")))
	require.NoError(t, os.Link(filepath.Join(dir, "db/col-0002.d"), filepath.Join(dir, "db/meta/same")))
	if err := unix.Setxattr(filepath.Join(dir, "conf/server.conf"), "user.rewind.test", []byte("kept"), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
		require.NoError(t, err)
	}
	require.NoError(t, os.Chmod(filepath.Join(dir, "conf"), 0o500))
	for _, d := range []string{"db/meta", "db", "conf", "."} {
		require.NoError(t, os.Chtimes(filepath.Join(dir, d), mtime, mtime))
	}
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "conf"), 0o755) })
}

// treeOf lists what a copy must keep of every entry.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		st, err := os.Lstat(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		line := st.Mode().String() + " " + st.ModTime().UTC().Format(time.RFC3339Nano)
		switch {
		case st.Mode().IsRegular():
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			line += fmt.Sprintf(" %d bytes ending %q", len(b), b[len(b)-3:])
			v := make([]byte, 64)
			if n, err := unix.Getxattr(p, "user.rewind.test", v); err == nil {
				line += " xattr=" + string(v[:n])
			}
			line += fmt.Sprintf(" links=%d", st.Sys().(*syscall.Stat_t).Nlink)
		case st.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		out[rel] = line
		return nil
	}))
	return out
}

func copyAll(t *testing.T, from, into string, skip int, ack func(Ack) error) error {
	return Copy(context.Background(), from, into, RestoreOptions{Batch: 2 << 20, Skip: skip}, ack)
}

func TestCopyKeepsEveryKindOfEntryAndAcksBatches(t *testing.T) {
	from, into := t.TempDir(), t.TempDir()
	sourceTree(t, from)
	var acks []Ack
	require.NoError(t, copyAll(t, from, into, 0, func(a Ack) error { acks = append(acks, a); return nil }))
	require.Equal(t, treeOf(t, from), treeOf(t, into))

	last := acks[len(acks)-1]
	require.True(t, last.Done)
	require.Equal(t, len(treeOf(t, from)), last.Summary.Entries)
	require.Equal(t, 1, last.Summary.SparseFiles)
	require.Greater(t, len(acks), 2, "an ack after each batch of 2 MiB")
	for i := 1; i < len(acks); i++ {
		require.Greater(t, acks[i].Index, acks[i-1].Index)
	}
	var st unix.Stat_t
	require.NoError(t, unix.Stat(filepath.Join(into, "db/holes.d"), &st))
	require.Less(t, st.Blocks*512, int64(1<<20), "the 32 MiB file's hole stays a hole")
}

// TestCopyResumedWritesOnlyWhatWasNotAcked: a mover stopped after its first ack; the next
// one skips the acked entries (their files keep their inodes) and the copy ends whole.
func TestCopyResumedWritesOnlyWhatWasNotAcked(t *testing.T) {
	from, into := t.TempDir(), t.TempDir()
	sourceTree(t, from)
	stop := errors.New("worker killed")
	var first Ack
	err := copyAll(t, from, into, 0, func(a Ack) error {
		if a.Error == "" && first.Bytes == 0 {
			first = a
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	inodes := map[string]uint64{}
	require.NoError(t, filepath.WalkDir(into, func(p string, d fs.DirEntry, err error) error {
		if d.Type().IsRegular() {
			info, _ := d.Info()
			inodes[p] = info.Sys().(*syscall.Stat_t).Ino
		}
		return err
	}))
	require.NotEmpty(t, inodes)

	require.NoError(t, copyAll(t, from, into, first.Index+1, func(Ack) error { return nil }))
	require.Equal(t, treeOf(t, from), treeOf(t, into))
	kept := 0
	for p, ino := range inodes {
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(p, &st))
		if st.Ino == ino {
			kept++
		}
	}
	require.Equal(t, len(inodes), kept, "files of the acked batch are not written again")
}
