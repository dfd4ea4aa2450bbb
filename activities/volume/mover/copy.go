package mover

import (
	"archive/tar"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/algotrendy/rewind/archive"
)

// Copy writes the files under from into root as Restore writes a backup's, with the same
// acks. from is a staging volume that nothing writes to, walked in lexical order, so an
// ack's Index names the same entry in every attempt. Holes of a sparse file stay holes;
// hard links stay links; user.* extended attributes are copied.
func Copy(ctx context.Context, from, root string, o RestoreOptions, ack func(Ack) error) error {
	x := newExtractor(ctx, root, o, ack)
	firstLink := map[uint64]string{} // inode → the name its other links point to
	var sum archive.Summary
	err := filepath.WalkDir(from, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, sparse, err := headerOf(from, p, firstLink)
		if err != nil || hdr == nil {
			return err // nil: a socket, which no copy keeps (tar skips them too)
		}
		index := sum.Entries
		sum.Entries++
		sum.InVolume++
		if hdr.Typeflag == tar.TypeReg {
			sum.Bytes += hdr.Size
			if sparse {
				sum.SparseFiles++
			}
		}
		if index < o.Skip {
			if hdr.Typeflag == tar.TypeDir {
				x.dirs = append(x.dirs, hdr)
			}
			return nil
		}
		if hdr.Typeflag != tar.TypeReg {
			return x.put(index, hdr, strings.NewReader(""), false)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return x.put(index, hdr, f, sparse)
	})
	if err != nil {
		return x.stopped(fmt.Errorf("copy %s: %w", from, err))
	}
	sum.Layout = archive.FlatLayout()
	return x.finish(&sum)
}

// headerOf describes the file at p as a tar header named relative to from; sparse says
// it has holes. A second link to an inode becomes a hard link to the first.
func headerOf(from, p string, firstLink map[uint64]string) (*tar.Header, bool, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return nil, false, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	rel, err := filepath.Rel(from, p)
	if err != nil {
		return nil, false, err
	}
	hdr := &tar.Header{
		Name:       filepath.ToSlash(rel),
		Mode:       int64(sys.Mode & 0o7777),
		Uid:        int(sys.Uid),
		Gid:        int(sys.Gid),
		ModTime:    time.Unix(sys.Mtim.Unix()),
		AccessTime: time.Unix(sys.Atim.Unix()),
	}
	var sparse bool
	switch st.Mode().Type() {
	case 0:
		if sys.Nlink > 1 {
			if first, ok := firstLink[sys.Ino]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				break
			}
			firstLink[sys.Ino] = hdr.Name
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
		sparse = sys.Blocks*512 < st.Size()
	case fs.ModeDir:
		hdr.Typeflag = tar.TypeDir
	case fs.ModeSymlink:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = os.Readlink(p); err != nil {
			return nil, false, err
		}
	case fs.ModeDevice | fs.ModeCharDevice, fs.ModeDevice, fs.ModeNamedPipe:
		hdr.Typeflag = map[fs.FileMode]byte{fs.ModeDevice | fs.ModeCharDevice: tar.TypeChar, fs.ModeDevice: tar.TypeBlock, fs.ModeNamedPipe: tar.TypeFifo}[st.Mode().Type()]
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(sys.Rdev)), int64(unix.Minor(sys.Rdev))
	default:
		return nil, false, nil
	}
	if hdr.Typeflag != tar.TypeLink {
		if hdr.PAXRecords, err = userXattrs(p); err != nil {
			return nil, false, err
		}
	}
	return hdr, sparse, nil
}

// userXattrs reads p's user.* extended attributes as tar's SCHILY.xattr records.
func userXattrs(p string) (map[string]string, error) {
	size, err := unix.Llistxattr(p, nil)
	if err != nil || size == 0 {
		return nil, nil // a filesystem without xattrs has none to copy
	}
	names := make([]byte, size)
	if size, err = unix.Llistxattr(p, names); err != nil {
		return nil, fmt.Errorf("list extended attributes of %s: %w", p, err)
	}
	var records map[string]string
	for name := range strings.SplitSeq(string(names[:size]), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		value := make([]byte, 64<<10)
		n, err := unix.Lgetxattr(p, name, value)
		if err != nil {
			return nil, fmt.Errorf("read extended attribute %s of %s: %w", name, p, err)
		}
		if records == nil {
			records = map[string]string{}
		}
		records["SCHILY.xattr."+name] = string(value[:n])
	}
	return records, nil
}
