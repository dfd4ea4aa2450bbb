package mover

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/archive"
)

// Ack says the entries up to backup index Index are in the volume, and how many file
// bytes they added since the last ack. Acks are not synced: they survive a crash of the
// worker or the mover, not of the host (a checkpoint of another boot is not trusted, and
// the swap syncs the staged data before it goes live). The last ack, Done, comes after the
// folders' own metadata and carries what the walk found.
type Ack struct {
	Index int   `json:"index"`
	Bytes int64 `json:"bytes"`
	Done  bool  `json:"done,omitempty"`
	// Summary and PeakRSS (the mover's peak resident memory, in bytes) come with Done.
	Summary *archive.Summary `json:"summary,omitempty"`
	PeakRSS int64            `json:"peak_rss,omitempty"`
	// Error ends a restore that stopped (Bytes were written since the last ack, not
	// acked); Refused names the archive rule the backup broke (archive.ErrorType), when
	// that is why.
	Refused string `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
}

// RestoreOptions say how a backup's entries map into the volume and where to go on.
type RestoreOptions struct {
	Layout archive.Layout
	archive.Limits
	// Skip is the entries an earlier attempt wrote (the last Ack's Index + 1).
	Skip int
	// Batch is the file bytes between acks.
	Batch int64
}

// Restore reads a backup's tar stream (decompressed by the worker), checks every entry
// with the rules of package archive and writes those that land in the volume into root:
// files with large writes, sparse ones with their holes; owner, mode, xattrs and times
// as the entry holds them, a folder's once everything inside it is written. After every
// Batch bytes of file data (or 4096 entries) ack is called.
func Restore(ctx context.Context, stream io.Reader, root string, o RestoreOptions, ack func(Ack) error) error {
	x := newExtractor(ctx, root, o, ack)
	skipped := func(e archive.Entry) {
		if e.Header.Typeflag == tar.TypeDir {
			x.dirs = append(x.dirs, archive.Normalize(e.Header, e))
		}
	}
	sum, err := archive.WalkTar(ctx, stream, archive.WalkOptions{Layout: o.Layout, Limits: o.Limits, Skip: o.Skip, Skipped: skipped},
		func(e archive.Entry, content io.Reader) error {
			return x.put(e.Index, archive.Normalize(e.Header, e), content, e.Sparse)
		})
	if err != nil {
		return x.stopped(err)
	}
	return x.finish(&sum)
}

func newExtractor(ctx context.Context, root string, o RestoreOptions, ack func(Ack) error) *extractor {
	return &extractor{ctx: ctx, root: root, buf: make([]byte, 1<<20), ack: ack, last: o.Skip - 1, batch: o.Batch}
}

// put writes the entry at index and acks once a batch is full.
func (x *extractor) put(index int, hdr *tar.Header, content io.Reader, sparse bool) error {
	if err := x.entry(hdr, content, sparse); err != nil {
		return err
	}
	x.last = index
	if x.pending++; x.bytes >= x.batch || x.pending >= 4096 {
		x.pending = 0
		return x.sync(nil)
	}
	return nil
}

// stopped says once why the mover stopped, with what was written since the last ack
// (a retry writes it again).
func (x *extractor) stopped(err error) error {
	_ = x.ack(Ack{Index: x.last, Bytes: x.bytes, Refused: archive.ErrorType(err), Error: err.Error()})
	return err
}

// finish sets the folders' metadata and acks the end.
func (x *extractor) finish(sum *archive.Summary) error {
	// Deepest first, so setting a folder's times is not undone by its children's.
	slices.SortFunc(x.dirs, func(a, b *tar.Header) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	for _, d := range x.dirs {
		if err := os.MkdirAll(x.path(d.Name), 0o700); err != nil {
			return x.stopped(err)
		}
		if err := x.meta(x.path(d.Name), d); err != nil {
			return x.stopped(err)
		}
	}
	return x.sync(sum)
}

type extractor struct {
	ctx     context.Context
	root    string
	buf     []byte
	ack     func(Ack) error
	batch   int64
	dirs    []*tar.Header
	last    int
	bytes   int64
	pending int
}

func (x *extractor) path(name string) string { return filepath.Join(x.root, filepath.FromSlash(name)) }

// sync acks what was written since the last ack; with the walk's summary, it says it is
// done. Nothing is synced here: the swap syncs the volume before it goes live.
func (x *extractor) sync(sum *archive.Summary) error {
	done := sum != nil
	a := Ack{Index: x.last, Bytes: x.bytes, Done: done, Summary: sum}
	var ru unix.Rusage
	if done && unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		a.PeakRSS = ru.Maxrss << 10
	}
	err := x.ack(a)
	x.bytes = 0
	return err
}

// entry writes one checked entry, its header normalized (archive.Normalize).
func (x *extractor) entry(hdr *tar.Header, content io.Reader, sparse bool) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if filepath.IsAbs(name) || slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("entry %q leaves the volume", hdr.Name) // the walk's rules refuse it first
	}
	target := x.path(name)
	if hdr.Typeflag == tar.TypeDir {
		if err := os.MkdirAll(target, 0o700); err != nil {
			return err
		}
		x.dirs = append(x.dirs, hdr)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := removeNonDir(target); err != nil {
		return err
	}
	var err error
	switch hdr.Typeflag {
	case tar.TypeReg:
		err = x.file(target, hdr, content, sparse)
	case tar.TypeSymlink:
		err = os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		err = os.Link(x.path(hdr.Linkname), target)
		if err == nil {
			return nil // one inode: its metadata came with the file
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		err = unix.Mknod(target, mode|uint32(hdr.Mode&0o7777), int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	default:
		return fmt.Errorf("entry %s has type %q, which a volume cannot hold", hdr.Name, hdr.Typeflag)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", hdr.Name, err)
	}
	return x.meta(target, hdr)
}

// removeNonDir clears the way for an entry written again (a resumed restore); a folder in
// the way is an error, since the backup lists each path once.
func removeNonDir(p string) error {
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a folder in the volume", p)
	}
	return os.Remove(p)
}

// file writes a regular file; a sparse one keeps its all-zero blocks as holes.
func (x *extractor) file(target string, hdr *tar.Header, content io.Reader, sparse bool) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var off int64
	for {
		if err := x.ctx.Err(); err != nil {
			f.Close()
			return err
		}
		n, rerr := io.ReadFull(content, x.buf)
		if n > 0 {
			if err := writeAt(f, x.buf[:n], off, sparse); err != nil {
				f.Close()
				return err
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			f.Close()
			return rerr
		}
	}
	if off != hdr.Size {
		f.Close()
		return fmt.Errorf("%d bytes of %d", off, hdr.Size)
	}
	x.bytes += off
	if sparse {
		// A trailing hole is written by the size alone.
		if err := f.Truncate(off); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeAt writes b at off; when sparse, 4 KiB blocks of zeros are skipped (left as holes).
func writeAt(f *os.File, b []byte, off int64, sparse bool) error {
	if !sparse {
		_, err := f.WriteAt(b, off)
		return err
	}
	const block = 4096
	for start := 0; start < len(b); {
		end := start
		for end < len(b) && !zeros(b[end:min(end+block, len(b))]) {
			end = min(end+block, len(b))
		}
		if end > start {
			if _, err := f.WriteAt(b[start:end], off+int64(start)); err != nil {
				return err
			}
		}
		for end < len(b) && zeros(b[end:min(end+block, len(b))]) {
			end = min(end+block, len(b))
		}
		start = end
	}
	return nil
}

func zeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// meta sets owner, mode, extended attributes and times, as tar does: the mode after the
// owner (a chown clears set-id bits), no mode on a symlink.
func (x *extractor) meta(p string, hdr *tar.Header) error {
	if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("set owner of %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag != tar.TypeSymlink {
		if err := os.Chmod(p, fs.FileMode(hdr.Mode&0o777)|setBits(hdr.Mode)); err != nil {
			return fmt.Errorf("set mode of %s: %w", hdr.Name, err)
		}
	}
	for k, v := range hdr.PAXRecords {
		if attr, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := unix.Lsetxattr(p, attr, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("set extended attribute %s of %s: %w", attr, hdr.Name, err)
			}
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{timespec(atime), timespec(hdr.ModTime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", hdr.Name, err)
	}
	return nil
}

func setBits(mode int64) fs.FileMode {
	var m fs.FileMode
	if mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

func timespec(t time.Time) unix.Timespec { return unix.NsecToTimespec(t.UnixNano()) }
