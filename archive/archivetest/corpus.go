// Package archivetest builds a volume's worth of files with every kind of entry real
// database backups hold, backs it up with GNU tar the ways operators do, and compares
// folders file for file. Tests of package archive and integration tests share it.
//
// It needs root (files owned by others, a FIFO), GNU tar and a filesystem with holes.
package archivetest

import (
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Paths in the corpus, relative to the volume's root.
const (
	SparseFile = "sparse.bin"
	// SparseSize is the sparse file's logical size; it holds one SparseDataLen block of
	// random data at SparseDataAt and holes around it.
	SparseSize    = 64 << 20
	SparseDataAt  = 32 << 20
	SparseDataLen = 4096

	SecretFile  = "secret.key" // 0600, owned by 1000:1000
	FIFO        = "queue.fifo"
	XattrFile   = "xattr.txt" // user.rewind=1 when the filesystem allows
	UnicodeFile = "données-€.txt"
	Symlink     = "db/current" // -> wal/0001.log
	HardLink    = "db/market.hardlink"
	LinkedFile  = "db/market.sqlite"
)

// LongFile is a file whose name is 120 characters, in a nested folder; LongSymlink
// points at it with a target over 100 characters; LongHardLink is a second name for it,
// whose link target in the archive is over 100 characters.
const (
	LongFile     = "deep/er/" + longName
	LongSymlink  = "links/to-long"
	LongHardLink = "links/long-hardlink"
	longName     = "a-file-name-of-one-hundred-and-twenty-characters-which-ustar-cannot-hold-in-its-one-hundred-byte-name-field-0123456.dat"
)

// Corpus is the tree, kept as Docker keeps a volume:
// Root/var/lib/docker/volumes/<Volume>/_data.
type Corpus struct {
	Root       string
	VolumesDir string // Root/var/lib/docker/volumes: the runbook's tar -C folder
	Volume     string
	Data       string // the volume's content
	// Xattrs says whether XattrFile carries user.rewind=1 (the filesystem allowed it).
	Xattrs bool
}

// NewCorpus builds the corpus in a temporary folder of t.
func NewCorpus(t testing.TB) *Corpus {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the corpus needs root: files owned by 1000:1000 and 999:999")
	}
	root := t.TempDir()
	c := &Corpus{Root: root, VolumesDir: filepath.Join(root, "var/lib/docker/volumes"), Volume: "rewind_corpus_data"}
	c.Data = filepath.Join(c.VolumesDir, c.Volume, "_data")
	c.build(t)
	return c
}

// mtime is when every file and folder of the corpus was last changed: fixed, with
// nanoseconds that PAX keeps and GNU's format drops.
func mtime() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC) }

func (c *Corpus) build(t testing.TB) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("build corpus: %v", err)
		}
	}
	at := func(rel string) string { return filepath.Join(c.Data, filepath.FromSlash(rel)) }
	dirs := []struct {
		rel      string
		mode     os.FileMode
		uid, gid int
	}{
		{".", 0o750, 999, 999},  // a PostgreSQL volume's root
		{"db", 0o700, 999, 999}, // as PostgreSQL keeps its data
		{"db/wal", 0o700, 999, 999},
		{"deep", 0o755, 0, 0},
		{"deep/er", 0o755, 0, 0},
		{"links", 0o755, 0, 0},
		{"empty-dir", 0o1777, 0, 0},
	}
	for _, d := range dirs {
		must(os.MkdirAll(at(d.rel), 0o755))
		must(os.Chown(at(d.rel), d.uid, d.gid))
		must(os.Chmod(at(d.rel), d.mode))
	}
	files := []struct {
		rel      string
		size     int
		mode     os.FileMode
		uid, gid int
	}{
		{LinkedFile, 200 << 10, 0o640, 999, 999},
		{"db/wal/0001.log", 10 << 10, 0o600, 999, 999},
		{SecretFile, 64, 0o600, 1000, 1000},
		{LongFile, 1000, 0o644, 0, 0},
		{UnicodeFile, 17, 0o644, 0, 0},
		{XattrFile, 5, 0o644, 0, 0},
		{"empty", 0, 0o444, 0, 0},
		{"setuid-tool", 33, 0o4755, 0, 0},
	}
	for _, f := range files {
		body := make([]byte, f.size)
		_, _ = rand.Read(body)
		must(os.WriteFile(at(f.rel), body, 0o600))
		must(os.Chown(at(f.rel), f.uid, f.gid))
		must(os.Chmod(at(f.rel), f.mode))
	}
	must(os.Link(at(LinkedFile), at(HardLink)))
	must(os.Link(at(LongFile), at(LongHardLink)))
	must(os.Symlink("wal/0001.log", at(Symlink)))
	must(os.Symlink("../"+LongFile, at(LongSymlink)))
	must(syscall.Mkfifo(at(FIFO), 0o640))
	must(os.Chmod(at(FIFO), 0o640))

	sparse, err := os.Create(at(SparseFile))
	must(err)
	must(sparse.Truncate(SparseSize))
	block := make([]byte, SparseDataLen)
	_, _ = rand.Read(block)
	_, err = sparse.WriteAt(block, SparseDataAt)
	must(err)
	must(sparse.Close())

	switch err := syscall.Setxattr(at(XattrFile), "user.rewind", []byte("1"), 0); {
	case err == nil:
		c.Xattrs = true
	case errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EPERM):
		t.Logf("corpus: the filesystem of %s takes no user xattrs (%v); xattr checks are skipped", c.Root, err)
	default:
		must(err)
	}

	// Times last, deepest first, so creating a child does not move its folder's mtime.
	// Symlinks keep their own (os.Chtimes would follow them).
	for _, f := range files {
		must(os.Chtimes(at(f.rel), mtime(), mtime()))
	}
	must(os.Chtimes(at(SparseFile), mtime(), mtime()))
	must(os.Chtimes(at(FIFO), mtime(), mtime()))
	for i := len(dirs) - 1; i >= 0; i-- {
		must(os.Chtimes(at(dirs[i].rel), mtime(), mtime()))
	}
}

// Manifest is the corpus's volume content as a restore must reproduce it.
func (c *Corpus) Manifest(t testing.TB) Manifest {
	t.Helper()
	m, err := ReadManifest(c.Data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Variant is one way operators run GNU tar.
type Variant struct {
	Name  string
	Flags []string
	// Xattrs says whether the archive carries extended attributes.
	Xattrs bool
	// Sparse says whether the archive stores the sparse file with holes.
	Sparse bool
}

// Variants are the GNU tar invocations real backups are made with.
func Variants() []Variant {
	return []Variant{
		{Name: "gnu", Flags: nil},
		{Name: "gnu-sparse", Flags: []string{"--sparse"}, Sparse: true},
		{Name: "oldgnu-sparse", Flags: []string{"--format=oldgnu", "--sparse"}, Sparse: true},
		{Name: "posix", Flags: []string{"--format=posix"}},
		{Name: "posix-sparse-1.0", Flags: []string{"--format=posix", "--sparse"}, Sparse: true},
		{Name: "posix-sparse-0.1", Flags: []string{"--format=posix", "--sparse", "--sparse-version=0.1"}, Sparse: true},
		{Name: "posix-sparse-0.0", Flags: []string{"--format=posix", "--sparse", "--sparse-version=0.0"}, Sparse: true},
		{Name: "posix-xattrs", Flags: []string{"--format=posix", "--xattrs"}, Xattrs: true},
		{Name: "posix-sparse-xattrs", Flags: []string{"--format=posix", "--sparse", "--xattrs"}, Sparse: true, Xattrs: true},
	}
}

// BackupLayout is where the volume's content lies in a backup.
type BackupLayout string

// The layouts operators produce.
const (
	// RunbookBackup: tar -czf b.tgz -C /var/lib/docker/volumes <vol>  → <vol>/_data/...
	RunbookBackup BackupLayout = "runbook"
	// PathBackup: tar -czf b.tgz /var/lib/docker/volumes/<vol>/_data
	// → var/lib/docker/volumes/<vol>/_data/... (GNU tar drops the leading "/")
	PathBackup BackupLayout = "path"
	// FlatBackup: tar -czf b.tgz -C <mountpoint> .  → ./...
	FlatBackup BackupLayout = "flat"
)

// Backup makes a backup of the corpus with GNU tar, in t's temporary folder, and returns
// its path.
func (c *Corpus) Backup(t testing.TB, v Variant, layout BackupLayout) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), v.Name+"-"+string(layout)+".tar.gz")
	args := append(append([]string{}, v.Flags...), "-czf", out)
	switch layout {
	case RunbookBackup:
		args = append(args, "-C", c.VolumesDir, c.Volume)
	case PathBackup:
		// The same names as tar given the absolute path, without touching the host's.
		args = append(args, "-C", c.Root, filepath.Join("var/lib/docker/volumes", c.Volume, "_data"))
	case FlatBackup:
		args = append(args, "-C", c.Data, ".")
	default:
		t.Fatalf("back up corpus: unknown layout %q", layout)
	}
	cmd := exec.Command("tar", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar %s: %v: %s", strings.Join(args, " "), err, b)
	}
	return out
}
