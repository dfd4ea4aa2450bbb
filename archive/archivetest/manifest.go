package archivetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Node is what a restore must reproduce of one path.
type Node struct {
	Type string // dir, file, symlink, fifo, device, socket
	// Mode is the permission bits with setuid, setgid and sticky.
	Mode     fs.FileMode
	UID, GID int
	Size     int64  // regular files only
	SHA256   string // regular files only
	Target   string // symlinks only
	// LinkGroup is, for a file with more than one name in the tree, the first of its
	// names in sorted order; names with equal LinkGroup are one file.
	LinkGroup string
	// ModTime is the modification time in whole seconds (tar's default format keeps no
	// more).
	ModTime int64
	// Allocated is the disk the file takes (st_blocks × 512): a sparse file's holes take
	// none.
	Allocated int64
	// Xattrs are the user.* extended attributes of files and folders.
	Xattrs map[string]string
}

// Manifest is a folder's nodes by slash path relative to it; "." is the folder itself.
type Manifest map[string]Node

// Field names a part of a Node, to leave out of a Diff.
type Field string

// Fields Diff compares.
const (
	FieldType      Field = "type"
	FieldMode      Field = "mode"
	FieldOwner     Field = "owner"
	FieldSize      Field = "size"
	FieldSHA256    Field = "sha256"
	FieldTarget    Field = "target"
	FieldLinkGroup Field = "link group"
	FieldModTime   Field = "mtime"
	FieldAllocated Field = "allocated"
	FieldXattrs    Field = "xattrs"
)

// ReadManifest records every path under root, root itself as ".".
func ReadManifest(root string) (Manifest, error) {
	m := Manifest{}
	type inode struct{ dev, ino uint64 }
	names := map[inode][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("stat %s: no unix stat", p)
		}
		n := Node{
			Mode:      fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			UID:       int(st.Uid),
			GID:       int(st.Gid),
			ModTime:   fi.ModTime().Unix(),
			Allocated: st.Blocks * 512,
		}
		switch t := fi.Mode().Type(); {
		case t == 0:
			n.Type, n.Size = "file", fi.Size()
			if n.SHA256, err = hashFile(p); err != nil {
				return err
			}
			if st.Nlink > 1 {
				key := inode{uint64(st.Dev), st.Ino}
				names[key] = append(names[key], rel)
			}
		case t == fs.ModeDir:
			n.Type = "dir"
		case t == fs.ModeSymlink:
			n.Type = "symlink"
			if n.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case t == fs.ModeNamedPipe:
			n.Type = "fifo"
		case t&fs.ModeDevice != 0:
			n.Type = "device"
		default:
			n.Type = "socket"
		}
		if n.Type == "file" || n.Type == "dir" {
			if n.Xattrs, err = userXattrs(p); err != nil {
				return err
			}
		}
		m[rel] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read manifest of %s: %w", root, err)
	}
	for _, group := range names {
		if len(group) < 2 {
			continue // its other names lie outside root
		}
		first := slices.Min(group)
		for _, rel := range group {
			n := m[rel]
			n.LinkGroup = first
			m[rel] = n
		}
	}
	return m, nil
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// userXattrs reads the user.* attributes of p (others belong to the host: security
// labels, ACLs).
func userXattrs(p string) (map[string]string, error) {
	size, err := syscall.Listxattr(p, nil)
	if errors.Is(err, syscall.ENOTSUP) || size == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	buf := make([]byte, size)
	if size, err = syscall.Listxattr(p, buf); err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
	}
	var out map[string]string
	for name := range strings.SplitSeq(string(buf[:size]), "\x00") {
		if !strings.HasPrefix(name, "user.") {
			continue
		}
		val := make([]byte, 4096)
		n, err := syscall.Getxattr(p, name, val)
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = string(val[:n])
	}
	return out, nil
}

// Diff names every difference between want and got, one line each, in path order:
// "sparse.bin: size 67108864, got 0". Fields in ignore are not compared.
func Diff(want, got Manifest, ignore ...Field) []string {
	skip := func(f Field) bool { return slices.Contains(ignore, f) }
	var out []string
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		if !ok {
			out = append(out, fmt.Sprintf("%s: missing %s", p, want[p].Type))
			continue
		}
		out = append(out, diffNode(p, want[p], g, skip)...)
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("%s: unexpected %s", p, got[p].Type))
		}
	}
	return out
}

func diffNode(p string, want, got Node, skip func(Field) bool) []string {
	var out []string
	differ := func(f Field, w, g any) {
		if !skip(f) && fmt.Sprint(w) != fmt.Sprint(g) {
			out = append(out, fmt.Sprintf("%s: %s %v, got %v", p, f, w, g))
		}
	}
	differ(FieldType, want.Type, got.Type)
	differ(FieldMode, want.Mode, got.Mode)
	differ(FieldOwner, fmt.Sprintf("%d:%d", want.UID, want.GID), fmt.Sprintf("%d:%d", got.UID, got.GID))
	differ(FieldSize, want.Size, got.Size)
	differ(FieldSHA256, want.SHA256, got.SHA256)
	differ(FieldTarget, want.Target, got.Target)
	differ(FieldLinkGroup, want.LinkGroup, got.LinkGroup)
	differ(FieldModTime, want.ModTime, got.ModTime)
	differ(FieldAllocated, want.Allocated, got.Allocated)
	differ(FieldXattrs, want.Xattrs, got.Xattrs)
	return out
}
