package mover

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PAX records the worker adds to each entry it streams to the mover.
const (
	// IndexRecord is the entry's index in the backup: what an Ack reports as durable.
	IndexRecord = "REWIND.index"
	// SparseRecord marks a file the backup stored with holes: its all-zero blocks are
	// left as holes.
	SparseRecord = "REWIND.sparse"
)

// Ack says the entries up to backup index Index are in the volume, and how many file
// bytes they added since the last ack. Done comes once, after the last entry and the
// folders' own metadata, with the volume synced. Acks between are not synced: they
// survive a crash of the worker or the mover, not of the host (a checkpoint of another
// boot is not trusted).
type Ack struct {
	Index int   `json:"index"`
	Bytes int64 `json:"bytes"`
	Done  bool  `json:"done,omitempty"`
	// PeakRSS is the mover's peak resident memory in bytes, with Done.
	PeakRSS int64 `json:"peak_rss,omitempty"`
}

// Extract writes the entries of a tar stream into root: entries the worker has already
// checked (archive.Walk) and normalized (archive.Normalize, the root named "./"), each
// carrying its backup index. Files are written with large writes, sparse ones with their
// holes; owner, mode, xattrs and times are set as the entry holds them, a folder's once
// everything inside it is written. After every batch bytes of file data (or 4096 entries)
// ack is called; at the end the volume is synced first.
func Extract(stream io.Reader, root string, batch int64, ack func(Ack) error) error {
	x := &extractor{root: root, buf: make([]byte, 1<<20), ack: ack, last: -1}
	tr := tar.NewReader(stream)
	var pending int
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the stream: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
		if pending++; x.bytes >= batch || pending >= 4096 {
			if err := x.sync(false); err != nil {
				return err
			}
			pending = 0
		}
	}
	// Deepest first, so setting a folder's times is not undone by its children's.
	slices.SortFunc(x.dirs, func(a, b *tar.Header) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	for _, d := range x.dirs {
		if err := x.meta(x.path(d.Name), d); err != nil {
			return err
		}
	}
	return x.sync(true)
}

type extractor struct {
	root  string
	buf   []byte
	ack   func(Ack) error
	dirs  []*tar.Header
	last  int
	bytes int64
}

func (x *extractor) path(name string) string { return filepath.Join(x.root, filepath.FromSlash(name)) }

func (x *extractor) sync(done bool) error {
	if done {
		fd, err := unix.Open(x.root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", x.root, err)
		}
		err = unix.Syncfs(fd)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("sync the volume: %w", err)
		}
	}
	a := Ack{Index: x.last, Bytes: x.bytes, Done: done}
	var ru unix.Rusage
	if done && unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		a.PeakRSS = ru.Maxrss << 10
	}
	err := x.ack(a)
	x.bytes = 0
	return err
}

func (x *extractor) entry(hdr *tar.Header, content io.Reader) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if filepath.IsAbs(name) || slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("entry %q leaves the volume", hdr.Name)
	}
	if s, ok := hdr.PAXRecords[IndexRecord]; ok {
		i, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("entry %s: bad index %q", hdr.Name, s)
		}
		x.last = max(x.last, i)
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
		err = x.file(target, hdr, content)
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
func (x *extractor) file(target string, hdr *tar.Header, content io.Reader) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	sparse := hdr.PAXRecords[SparseRecord] == "1"
	var off int64
	for {
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
