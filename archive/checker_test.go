package archive_test

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/archive/archivetest"
	"github.com/algotrendy/rewind/failure"
)

// entry is one header of a hand-made archive, with its body.
type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string) entry {
	return entry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}}
}

func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target}}
}

// tarGz packs entries as a gzipped tar.
func tarGz(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		require.NoError(t, tw.WriteHeader(&e.hdr), e.hdr.Name)
		_, err := io.WriteString(tw, e.body)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func walkBytes(t *testing.T, b []byte, o archive.WalkOptions, visit func(archive.Entry, io.Reader) error) (archive.Summary, error) {
	t.Helper()
	return archive.Walk(t.Context(), bytes.NewReader(b), o, visit)
}

// TestWalkRefusesUnsafeEntries proves each rule refuses what it must, with an error that
// names the entry and the rule and maps to UnsafeArchiveEntry.
func TestWalkRefusesUnsafeEntries(t *testing.T) {
	head := []entry{dir("v/"), dir("v/_data/"), dir("v/_data/db/"), file("v/_data/db/market.sqlite", "rows")}
	for _, tc := range []struct {
		name  string
		evil  []entry
		entry string
		rule  archive.Rule
		want  string
	}{
		{"hard link climbing out through the volume's root", []entry{hardlink("v/_data/evil", "v/_data/../../../../etc/passwd")},
			"v/_data/evil", archive.RuleHardLinkOut, `hard-links to "v/_data/../../../../etc/passwd", which climbs out with '..'`},
		{"hard link with a relative target climbing out", []entry{hardlink("v/_data/evil", "../../etc/passwd")},
			"v/_data/evil", archive.RuleHardLinkOut, `hard-links to "../../etc/passwd", which climbs out with '..'`},
		{"hard link to an absolute path", []entry{hardlink("v/_data/evil", "/etc/passwd")},
			"v/_data/evil", archive.RuleHardLinkOut, `hard-links to "/etc/passwd", which is an absolute path`},
		{"hard link outside the volume's root", []entry{hardlink("v/_data/evil", "v/opts.json")},
			"v/_data/evil", archive.RuleHardLinkOut, `hard-links to "v/opts.json", outside the volume's root`},
		{"hard link to a name not seen before", []entry{hardlink("v/_data/early", "v/_data/later"), file("v/_data/later", "x")},
			"v/_data/early", archive.RuleHardLinkUnknown, `hard-links to "v/_data/later", which is not a regular file earlier in the archive`},
		{"hard link to a folder", []entry{hardlink("v/_data/evil", "v/_data/db")},
			"v/_data/evil", archive.RuleHardLinkUnknown, "which is not a regular file earlier"},
		{"hard link through a symlink", []entry{symlink("v/_data/s", "db"), hardlink("v/_data/evil", "v/_data/s/market.sqlite")},
			"v/_data/evil", archive.RuleHardLinkOut, `through the symlink "s"`},
		{"symlink out", []entry{symlink("v/_data/db/evil", "../../../etc")},
			"v/_data/db/evil", archive.RuleSymlinkOut, `links to "../../../etc", outside the volume`},
		{"absolute symlink", []entry{symlink("v/_data/evil", "/etc/shadow")},
			"v/_data/evil", archive.RuleSymlinkOut, `links to the absolute path "/etc/shadow"`},
		{"symlink climbing after a name", []entry{symlink("v/_data/evil", "db/../..")},
			"v/_data/evil", archive.RuleSymlinkOut, "climbs with '..' after a name"},
		{"entry written through a symlink", []entry{symlink("v/_data/s", "db"), file("v/_data/s/x", "x")},
			"v/_data/s/x", archive.RuleThroughSymlink, `would be written through the symlink "s"`},
		{"dot-dot", []entry{file("v/_data/../../etc/passwd", "root::0:0")},
			"v/_data/../../etc/passwd", archive.RuleDotDot, "climbs out with '..'"},
		{"absolute", []entry{file("/etc/passwd", "root::0:0")},
			"/etc/passwd", archive.RuleAbsolute, "is an absolute path"},
		{"character device", []entry{{hdr: tar.Header{Name: "v/_data/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}},
			"v/_data/null", archive.RuleDevice, "is a device node"},
		{"block device", []entry{{hdr: tar.Header{Name: "v/_data/sda", Typeflag: tar.TypeBlock, Devmajor: 8}}},
			"v/_data/sda", archive.RuleDevice, "is a device node"},
		{"outside the layout's root", []entry{file("v/other/file", "x")},
			"v/other/file", archive.RuleOutsideRoot, "lies outside the volume's root v/_data/ (layout root:v/_data)"},
		{"a file above the layout's root", []entry{file("v/opts.json", "{}")},
			"v/opts.json", archive.RuleOutsideRoot, "lies outside the volume's root"},
		{"multi-volume continuation", []entry{{hdr: tar.Header{Name: "v/_data/part", Typeflag: 'M'}}},
			"v/_data/part", archive.RuleUnsupportedType, `has tar type "M"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var visited []string
			_, err := walkBytes(t, tarGz(t, append(append([]entry{}, head...), tc.evil...)...), archive.WalkOptions{}, func(e archive.Entry, _ io.Reader) error {
				visited = append(visited, e.Path)
				return nil
			})
			t.Log(err)
			var unsafe *archive.UnsafeError
			require.ErrorAs(t, err, &unsafe)
			require.Equal(t, tc.rule, unsafe.Rule)
			require.Equal(t, tc.entry, unsafe.Entry)
			require.ErrorContains(t, err, `entry "`+tc.entry+`" `)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, failure.UnsafeEntry, archive.ErrorType(err))
			require.NotContains(t, visited, strings.TrimPrefix(tc.entry, "v/_data/"), "the refused entry is never visited")
		})
	}
}

// TestWalkAcceptsWhatTarWrites pins down entries that look close to a refusal but are what
// real backups hold.
func TestWalkAcceptsWhatTarWrites(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    map[string]string // path → hard link's LinkPath or symlink's target
	}{
		{"relative symlink climbing inside the volume", []entry{dir("v/_data/db/"), symlink("v/_data/db/wal", "../wal"), symlink("v/_data/db/self", "./../db/.")},
			map[string]string{"db/wal": "../wal", "db/self": "./../db/."}},
		{"hard link after its file", []entry{file("v/_data/a", "x"), hardlink("v/_data/b", "v/_data/a"), hardlink("v/_data/c", "v/_data/b")},
			map[string]string{"b": "a", "c": "b"}},
		{"flat archive with ./ names", []entry{dir("./"), file("./a", "x"), hardlink("./b", "./a")},
			map[string]string{"b": "a"}},
		{"a symlink replaced by a folder before writing under it", []entry{dir("v/_data/"), symlink("v/_data/s", "db"), dir("v/_data/s/"), file("v/_data/s/x", "x")},
			map[string]string{"s": "db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			_, err := walkBytes(t, tarGz(t, tc.entries...), archive.WalkOptions{}, func(e archive.Entry, _ io.Reader) error {
				switch e.Header.Typeflag {
				case tar.TypeLink:
					got[e.Path] = e.LinkPath
				case tar.TypeSymlink:
					got[e.Path] = e.Header.Linkname
				}
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestWalkRefusesDamagedAndOversizedBackups proves damage is CorruptBackup and bombs are
// BackupTooLarge, found before their content is read.
func TestWalkRefusesDamagedAndOversizedBackups(t *testing.T) {
	corpus := archivetest.NewCorpus(t)
	good := readFile(t, corpus.Backup(t, archivetest.Variants()[0], archivetest.RunbookBackup))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff

	zeros := strings.Repeat("\x00", 100<<20)
	bomb := tarGz(t, dir("v/_data/"), file("v/_data/small", "x"), file("v/_data/zeros", zeros))
	many := []entry{dir("v/_data/")}
	for i := range 10 {
		many = append(many, file("v/_data/f"+strconv.Itoa(i+1), "x"))
	}
	for _, tc := range []struct {
		name    string
		backup  []byte
		limits  archive.Limits
		errType string
		want    string
	}{
		{"cut in the middle", good[:len(good)/2], archive.Limits{}, failure.CorruptBackup, "the runbook's `tar -tzf` fails on it too"},
		{"a byte flipped in the middle", flipped, archive.Limits{}, failure.CorruptBackup, "damaged"},
		{"not gzip", []byte("this is not a backup"), archive.Limits{}, failure.CorruptBackup, "damaged"},
		{"gzip of something that is not tar", gzipOf(t, []byte(strings.Repeat("not tar ", 200))), archive.Limits{}, failure.CorruptBackup, "after 0 entries"},
		{"bomb over MaxBytes", bomb, archive.Limits{MaxBytes: 10 << 20}, failure.TooLarge, `unpacks to more than 10485760 bytes at entry "v/_data/zeros"`},
		{"more entries than MaxEntries", tarGz(t, many...), archive.Limits{MaxEntries: 5}, failure.TooLarge, `holds more than 5 entries at entry "v/_data/f5"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var read int64
			_, err := walkBytes(t, tc.backup, archive.WalkOptions{Limits: tc.limits, Progress: func(_ int, b int64) { read = b }}, nil)
			require.Error(t, err)
			t.Log(err)
			require.Equal(t, tc.errType, archive.ErrorType(err), "%v", err)
			require.ErrorContains(t, err, tc.want)
			if tc.errType == failure.TooLarge {
				require.Less(t, read, int64(1<<20), "refused at the header, before its content is unpacked")
			}
		})
	}
}

// TestWalkReportsProgressAndResumes proves Progress is called inside one large entry and
// during a resume's skipped entries, and that a resumed walk visits only the entries
// after Skip, with hard links into the skipped part still mapped.
func TestWalkReportsProgressAndResumes(t *testing.T) {
	big := strings.Repeat("\x00", 64<<20)
	entries := []entry{dir("v/_data/"), file("v/_data/a", "first"), file("v/_data/big", big)}
	for i := range 1000 {
		entries = append(entries, file("v/_data/small/"+strconv.Itoa(i), "s"))
	}
	entries = append(entries, hardlink("v/_data/link", "v/_data/a"))
	backup := tarGz(t, entries...)

	t.Run("inside one large entry", func(t *testing.T) {
		var calls []int64
		inBig := 0
		_, err := walkBytes(t, backup, archive.WalkOptions{Progress: func(_ int, b int64) { calls = append(calls, b) }}, func(e archive.Entry, content io.Reader) error {
			if e.Path != "big" {
				return nil
			}
			before := len(calls)
			_, err := io.Copy(io.Discard, content)
			inBig = len(calls) - before
			return err
		})
		require.NoError(t, err)
		require.GreaterOrEqual(t, inBig, 15, "a 64 MiB entry reports at least every 4 MiB while it is read")
		require.GreaterOrEqual(t, len(calls), inBig+1000/256, "and every 256 entries")
	})
	t.Run("resume", func(t *testing.T) {
		const skip = 500
		var visited []archive.Entry
		var progressBeforeVisit int
		sum, err := walkBytes(t, backup, archive.WalkOptions{Skip: skip, Progress: func(int, int64) {
			if len(visited) == 0 {
				progressBeforeVisit++
			}
		}}, func(e archive.Entry, _ io.Reader) error {
			visited = append(visited, e)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, len(entries), sum.Entries)
		require.Equal(t, skip, visited[0].Index, "the first entry visited is the one after the skipped")
		require.Len(t, visited, len(entries)-skip)
		last := visited[len(visited)-1]
		require.Equal(t, "link", last.Path)
		require.Equal(t, "a", last.LinkPath, "a hard link into the skipped part still maps")
		require.GreaterOrEqual(t, progressBeforeVisit, 16, "progress while skipping: 64 MiB and 500 entries")
	})
}

func gzipOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, err := gz.Write(b)
	require.NoError(t, err)
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// TestWalkFindsDamageWithEveryGunzip: igzip, pigz, gzip and Go's gzip reader (no tool on
// PATH) find the same damage.
func TestWalkFindsDamageWithEveryGunzip(t *testing.T) {
	corpus := archivetest.NewCorpus(t)
	good := readFile(t, corpus.Backup(t, archivetest.Variants()[0], archivetest.RunbookBackup))
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	for _, tool := range gzipTools {
		t.Run(cmp.Or(tool, "go"), func(t *testing.T) {
			onlyTool(t, tool)
			for _, tc := range []struct {
				name    string
				backup  []byte
				errType string
			}{
				{"whole", good, ""},
				{"cut in the middle", good[:len(good)/2], failure.CorruptBackup},
				{"a byte flipped in the middle", flipped, failure.CorruptBackup},
				{"not gzip", []byte("this is not a backup"), failure.CorruptBackup},
			} {
				t.Run(tc.name, func(t *testing.T) {
					_, err := walkBytes(t, tc.backup, archive.WalkOptions{}, nil)
					require.Equal(t, tc.errType, archive.ErrorType(err), "%v", err)
					if tc.errType == "" {
						require.NoError(t, err)
					}
				})
			}
		})
	}
}

// gzipTools are the host tools Rewind (de)compresses with; "" is Go's own code, which a
// host with only gzip uses too.
var gzipTools = []string{"igzip", "pigz", ""}

// onlyTool leaves only tool on PATH (nothing for ""). CI installs every tool; a laptop
// without one skips its case.
func onlyTool(t *testing.T, tool string) {
	t.Helper()
	dir := t.TempDir()
	if tool != "" {
		path, err := exec.LookPath(tool)
		if err != nil {
			if os.Getenv("REWIND_REQUIRE_DOCKER") != "" {
				t.Fatalf("%s is not installed: .ci/run installs it (apt-get install isal pigz gzip)", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
		require.NoError(t, os.Symlink(path, filepath.Join(dir, tool)))
	}
	t.Setenv("PATH", dir)
}

// TestWalkCancelledIsNotDamage: a cancelled walk kills gzip, whose broken pipe must not
// read as a damaged backup (that would be non-retryable).
func TestWalkCancelledIsNotDamage(t *testing.T) {
	backup := tarGz(t, dir("v/_data/"), file("v/_data/a", "a"), file("v/_data/big", strings.Repeat("\x00", 32<<20)))
	ctx, cancel := context.WithCancel(t.Context())
	_, err := archive.Walk(ctx, bytes.NewReader(backup), archive.WalkOptions{}, func(e archive.Entry, content io.Reader) error {
		if e.Path == "a" {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, archive.ErrorType(err))
}

// failingReader hands over the first n bytes of b, then fails as a network read does.
type failingReader struct {
	b   []byte
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := copy(p, f.b[:min(f.n, len(f.b))])
	f.b, f.n = f.b[k:], f.n-k
	return k, nil
}

// TestWalkUnreadableBackupIsNotDamage: a store that fails mid-read (a network error) is
// worth a retry; the cut stream gzip then sees must not read as a corrupt backup.
func TestWalkUnreadableBackupIsNotDamage(t *testing.T) {
	backup := tarGz(t, dir("v/_data/"), file("v/_data/a", strings.Repeat("random-ish ", 1<<20)))
	lost := errors.New("connection reset by peer")
	for _, tc := range []struct {
		name string
		path string
	}{{"with the gzip tool", os.Getenv("PATH")}, {"with Go's gzip", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("PATH", tc.path)
			_, err := walkBytes(t, nil, archive.WalkOptions{}, nil)
			require.Equal(t, failure.CorruptBackup, archive.ErrorType(err), "an empty backup is damaged: %v", err)
			_, err = archive.Walk(t.Context(), &failingReader{b: backup, n: len(backup) / 2, err: lost}, archive.WalkOptions{}, nil)
			require.ErrorIs(t, err, lost)
			require.Empty(t, archive.ErrorType(err))
		})
	}
}
