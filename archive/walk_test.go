package archive_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/archive/archivetest"
)

// readerFacts is what Go's tar reader reports for the sparse file of each GNU tar variant.
type readerFacts struct {
	typeflag byte
	// regions: Go exposes where the data lies (PAX sparse 0.0 and 0.1 only).
	regions bool
}

func factsOf(v archivetest.Variant) readerFacts {
	switch v.Name {
	case "gnu-sparse", "oldgnu-sparse":
		return readerFacts{typeflag: tar.TypeGNUSparse}
	case "posix-sparse-0.0", "posix-sparse-0.1":
		return readerFacts{typeflag: tar.TypeReg, regions: true}
	}
	return readerFacts{typeflag: tar.TypeReg}
}

// TestWalkReproducesEveryGNUTarVariant walks each backup GNU tar makes of the corpus and
// proves that Walk maps every entry with the source's content, that Go's reader reports
// the sparse file as recorded in readerFacts, and that the Normalize'd stream, extracted
// by GNU tar as root, reproduces the tree file for file.
func TestWalkReproducesEveryGNUTarVariant(t *testing.T) {
	corpus := archivetest.NewCorpus(t)
	want := corpus.Manifest(t)
	sparseName := corpus.Volume + "/_data/" + archivetest.SparseFile
	for _, v := range archivetest.Variants() {
		t.Run(v.Name, func(t *testing.T) {
			backup := corpus.Backup(t, v, archivetest.RunbookBackup)
			dir := t.TempDir()
			tarX := exec.Command("tar", "--numeric-owner", "--xattrs", "-xpf", "-", "-C", dir)
			stdin, err := tarX.StdinPipe()
			require.NoError(t, err)
			var tarOut bytes.Buffer
			tarX.Stdout, tarX.Stderr = &tarOut, &tarOut
			require.NoError(t, tarX.Start())
			tw := tar.NewWriter(stdin)

			seen := map[string]bool{}
			var sparse archive.Entry
			sum, walkErr := walkFile(t, backup, archive.WalkOptions{}, func(e archive.Entry, content io.Reader) error {
				require.False(t, seen[e.Path], "%s visited twice", e.Path)
				seen[e.Path] = true
				node, ok := want[e.Path]
				require.True(t, ok, "entry %s maps to %s, which the source does not hold", e.Name, e.Path)
				hash := sha256.New()
				n, err := archive.WriteEntry(tw, "", e, io.TeeReader(content, hash))
				if err != nil {
					return err
				}
				if node.Type == "file" && e.Header.Typeflag != tar.TypeLink {
					require.Equal(t, node.Size, n, e.Path)
					require.Equal(t, node.SHA256, hex.EncodeToString(hash.Sum(nil)), "content of %s", e.Path)
				}
				if e.Path == archivetest.SparseFile {
					sparse = e
				}
				return nil
			})
			require.NoError(t, walkErr)
			require.NoError(t, tw.Close())
			require.NoError(t, stdin.Close())
			require.NoError(t, tarX.Wait(), "GNU tar -x: %s", tarOut.String())

			require.Len(t, seen, len(want), "every path of the source came out of the walk")
			require.Equal(t, "root:"+corpus.Volume+"/_data", sum.Layout.String(), "the layout detected")
			require.Equal(t, len(want), sum.InVolume)
			require.Equal(t, len(want)+1, sum.Entries, "the entries plus %s/ above the root", corpus.Volume)

			facts := factsOf(v)
			require.Equal(t, string(rune(facts.typeflag)), string(rune(sparse.Header.Typeflag)), "Typeflag of the sparse file")
			require.Equal(t, int64(archivetest.SparseSize), sparse.Header.Size, "Go reports the logical size")
			require.Equal(t, sparseName, sparse.Header.Name, "Go reports the real name, not GNUSparseFile.N/...")
			require.Equal(t, v.Sparse, sparse.Sparse)
			if facts.regions {
				require.Equal(t, []archive.Region{{Offset: archivetest.SparseDataAt, Length: archivetest.SparseDataLen}}, sparse.DataRegions)
			} else {
				require.Nil(t, sparse.DataRegions)
			}
			if v.Sparse {
				require.Equal(t, 1, sum.SparseFiles)
			}

			got, err := archivetest.ReadManifest(dir)
			require.NoError(t, err)
			ignore := []archivetest.Field{archivetest.FieldAllocated}
			if !v.Xattrs || !corpus.Xattrs {
				ignore = append(ignore, archivetest.FieldXattrs)
			}
			require.Empty(t, archivetest.Diff(want, got, ignore...), "GNU tar's extraction of the normalized stream equals the source")
			t.Logf("%s: sparse file takes %d bytes in the source, %d after GNU tar extracted the normalized stream",
				v.Name, want[archivetest.SparseFile].Allocated, got[archivetest.SparseFile].Allocated)
		})
	}
}

// TestWalkDetectsEachLayout walks the three layouts operators make and checks that each
// is detected and maps to the same volume content.
func TestWalkDetectsEachLayout(t *testing.T) {
	corpus := archivetest.NewCorpus(t)
	want := corpus.Manifest(t)
	gnu := archivetest.Variants()[0]
	for _, tc := range []struct {
		backup   archivetest.BackupLayout
		layout   archive.Layout
		detected string
		above    int // entries above the volume's root
	}{
		{archivetest.RunbookBackup, archive.Layout{}, "root:" + corpus.Volume + "/_data", 1},
		{archivetest.PathBackup, archive.Layout{}, "root:var/lib/docker/volumes/" + corpus.Volume + "/_data", 0},
		{archivetest.FlatBackup, archive.Layout{}, "flat", 0},
		{archivetest.RunbookBackup, archive.RunbookLayout, "runbook", 1},
		{archivetest.PathBackup, archive.StripLayout(6), "strip:6", 0},
		{archivetest.FlatBackup, archive.FlatLayout(), "flat", 0},
	} {
		t.Run(fmt.Sprintf("%s backup, %s layout", tc.backup, tc.layout), func(t *testing.T) {
			backup := corpus.Backup(t, gnu, tc.backup)
			seen := map[string]bool{}
			sum, err := walkFile(t, backup, archive.WalkOptions{Layout: tc.layout}, func(e archive.Entry, _ io.Reader) error {
				seen[e.Path] = true
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tc.detected, sum.Layout.String())
			require.Equal(t, len(want)+tc.above, sum.Entries)
			for p := range want {
				require.True(t, seen[p], "%s came out of the walk", p)
			}
			require.Len(t, seen, len(want))
		})
	}
	t.Run("runbook layout on a flat backup is refused", func(t *testing.T) {
		_, err := walkFile(t, corpus.Backup(t, gnu, archivetest.FlatBackup), archive.WalkOptions{Layout: archive.RunbookLayout}, nil)
		var unsafe *archive.UnsafeError
		require.ErrorAs(t, err, &unsafe)
		require.Equal(t, archive.RuleOutsideRoot, unsafe.Rule)
		require.ErrorContains(t, err, "set the stack's backups.layout")
	})
}

// walkFile walks the backup at path.
func walkFile(t *testing.T, path string, o archive.WalkOptions, visit func(archive.Entry, io.Reader) error) (archive.Summary, error) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	return archive.Walk(t.Context(), f, o, visit)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
