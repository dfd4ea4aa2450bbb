package archive

import (
	"archive/tar"
	"errors"
	"path"
	"strconv"
	"strings"
)

// Default limits of one backup.
const (
	DefaultMaxBytes   int64 = 64 << 30
	DefaultMaxEntries       = 10_000_000
)

// GNU tar types Go's reader hands through as they are.
const (
	typeGNUDumpDir     = 'D' // a directory of an incremental backup; its data lists names
	typeGNUVolumeLabel = 'V' // the archive's label (tar -V), not a file
	typeRegV7          = '\x00'
)

// Limits bound what one archive may unpack to; the zero value is the defaults.
type Limits struct {
	// MaxBytes refuses archives whose entries declare more bytes in all; 0: 64 GiB.
	MaxBytes int64
	// MaxEntries refuses archives with more entries; 0: 10 million.
	MaxEntries int
}

func (l Limits) orDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// Entry is one tar entry that passed every rule, mapped into the volume.
type Entry struct {
	// Index is the entry's position among all the archive's entries, from 0: the point a
	// resumed walk skips to (WalkOptions.Skip).
	Index int
	// Name is the entry's name in the archive.
	Name string
	// Path is where it lands: slash-separated, relative to the volume's root, "." for the
	// root itself.
	Path string
	// LinkPath is a hard link's target, mapped into the volume like Path. A symlink's
	// target stays Header.Linkname: it is relative to where the link sits.
	LinkPath string
	// Header is the header as Go's tar reader returned it.
	Header *tar.Header
	// Sparse says the archive stored the file with holes (`tar --sparse`). Its content
	// still reads as the whole logical file, holes as zeros.
	Sparse bool
	// DataRegions are the sparse file's data, when the archive says where they are in a
	// header Go's reader exposes (PAX sparse 0.0 and 0.1); nil otherwise (GNU 'S' and PAX
	// 1.0 keep their maps inside Go's reader). A writer without regions can still punch
	// a hole for every all-zero block.
	DataRegions []Region
}

// Region is a run of data in a sparse file.
type Region struct {
	Offset, Length int64
}

// IsRoot says whether the entry is the volume's root folder.
func (e Entry) IsRoot() bool { return e.Path == "." }

// Checker applies the rules to an archive's headers one at a time, in archive order, for
// a caller that reads tar itself. Walk uses one; the rules live only here.
type Checker struct {
	layout Layout
	limits Limits

	entries int
	bytes   int64
	// files are the regular files so far, by volume path: the only valid hard-link targets.
	files map[string]struct{}
	// symlinks so far, by volume path: nothing may be written through one.
	symlinks map[string]struct{}
}

// NewChecker returns a Checker for a fixed layout (detect an auto one with DetectLayout).
func NewChecker(l Layout, lim Limits) (*Checker, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	if l.IsAuto() {
		return nil, errors.New("check entries: the auto layout must be detected first (DetectLayout)")
	}
	l.Mode = LayoutFixed
	return &Checker{layout: l, limits: lim.orDefaults(), files: map[string]struct{}{}, symlinks: map[string]struct{}{}}, nil
}

// Layout is the fixed layout the Checker applies.
func (c *Checker) Layout() Layout { return c.layout }

// Entries is how many headers the Checker has seen.
func (c *Checker) Entries() int { return c.entries }

// Check checks hdr, the archive's next header, and maps it into the volume. inVolume is
// false for a header that lands nowhere (a folder above the volume's root, a label); its
// content is to be read past. A refusal is an *UnsafeError or a *LimitError.
func (c *Checker) Check(hdr *tar.Header) (e Entry, inVolume bool, err error) {
	e = Entry{Index: c.entries, Name: hdr.Name, Header: hdr}
	c.entries++
	if c.entries > c.limits.MaxEntries {
		return e, false, &LimitError{Entry: hdr.Name, Entries: c.limits.MaxEntries}
	}
	if hdr.Size > 0 {
		c.bytes += hdr.Size
		if c.bytes > c.limits.MaxBytes || c.bytes < 0 {
			return e, false, &LimitError{Entry: hdr.Name, Bytes: c.limits.MaxBytes}
		}
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, typeGNUVolumeLabel:
		return e, false, nil
	}
	rel, where, err := c.layout.place(hdr.Name)
	if err != nil {
		return e, false, err
	}
	isDir := hdr.Typeflag == tar.TypeDir || hdr.Typeflag == typeGNUDumpDir
	switch where {
	case aboveRoot:
		if isDir {
			return e, false, nil
		}
		return e, false, unsafeEntry(hdr.Name, RuleOutsideRoot, "lies above the volume's root %s and is not a folder (layout %s); set the stack's backups.layout", c.layout.describeRoot(), c.layout)
	case outsideRoot:
		return e, false, unsafeEntry(hdr.Name, RuleOutsideRoot, "lies outside the volume's root %s (layout %s); set the stack's backups.layout", c.layout.describeRoot(), c.layout)
	}
	e.Path = rel
	if rel == "." && !isDir {
		return e, false, unsafeEntry(hdr.Name, RuleRootNotDir, "is the volume's root but not a folder")
	}
	if link := c.throughSymlink(rel); link != "" {
		return e, false, unsafeEntry(hdr.Name, RuleThroughSymlink, "would be written through the symlink %q earlier in the archive", link)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, typeRegV7, tar.TypeCont, tar.TypeGNUSparse:
		e.Sparse, e.DataRegions = sparseInfo(hdr)
	case tar.TypeDir, typeGNUDumpDir, tar.TypeFifo:
	case tar.TypeSymlink:
		if err := checkSymlinkTarget(hdr.Name, rel, hdr.Linkname); err != nil {
			return e, false, err
		}
	case tar.TypeLink:
		if e.LinkPath, err = c.checkHardLink(hdr); err != nil {
			return e, false, err
		}
	case tar.TypeChar, tar.TypeBlock:
		return e, false, unsafeEntry(hdr.Name, RuleDevice, "is a device node, which no database backup holds")
	default:
		return e, false, unsafeEntry(hdr.Name, RuleUnsupportedType, "has tar type %q, which a volume restore cannot create", string(rune(hdr.Typeflag)))
	}
	// A later entry of the same name replaces the earlier one, as tar does on extraction.
	delete(c.files, rel)
	delete(c.symlinks, rel)
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		c.symlinks[rel] = struct{}{}
	case tar.TypeReg, typeRegV7, tar.TypeCont, tar.TypeGNUSparse, tar.TypeLink:
		c.files[rel] = struct{}{}
	}
	return e, true, nil
}

// checkHardLink maps a hard link's target into the volume. Tar writes a file's first name
// as the file and every later name as a link to it, so the target must be a regular file
// that came earlier; anything else would link to what the archive does not hold.
func (c *Checker) checkHardLink(hdr *tar.Header) (string, error) {
	if hdr.Linkname == "" {
		return "", unsafeEntry(hdr.Name, RuleHardLinkOut, "is a hard link without a target")
	}
	target, where, err := c.layout.place(hdr.Linkname)
	if err != nil {
		if u, ok := err.(*UnsafeError); ok {
			return "", unsafeEntry(hdr.Name, RuleHardLinkOut, "hard-links to %q, which %s", hdr.Linkname, u.Reason)
		}
		return "", err
	}
	if where != inVolume {
		return "", unsafeEntry(hdr.Name, RuleHardLinkOut, "hard-links to %q, outside the volume's root %s", hdr.Linkname, c.layout.describeRoot())
	}
	if link := c.throughSymlink(target); link != "" {
		return "", unsafeEntry(hdr.Name, RuleHardLinkOut, "hard-links to %q through the symlink %q", hdr.Linkname, link)
	}
	if _, ok := c.files[target]; !ok {
		return "", unsafeEntry(hdr.Name, RuleHardLinkUnknown, "hard-links to %q, which is not a regular file earlier in the archive", hdr.Linkname)
	}
	return target, nil
}

// throughSymlink returns the earlier symlink that is a folder of rel, or "".
func (c *Checker) throughSymlink(rel string) string {
	if len(c.symlinks) == 0 || rel == "." {
		return ""
	}
	for i := range len(rel) {
		if rel[i] != '/' {
			continue
		}
		if _, ok := c.symlinks[rel[:i]]; ok {
			return rel[:i]
		}
	}
	return ""
}

// checkSymlinkTarget refuses a symlink whose target leaves the volume from where the link
// sits (rel). Absolute targets resolve against the container's root, so they leave it. A
// '..' after a name ("a/../..") is refused too: if "a" is, or later becomes, a symlink,
// the kernel climbs from where "a" points, which no check of names can see; leading
// '..'s climb through real folders, which names do show.
func checkSymlinkTarget(entry, rel, target string) error {
	if target == "" {
		return unsafeEntry(entry, RuleSymlinkOut, "is a symlink without a target")
	}
	if strings.HasPrefix(target, "/") {
		return unsafeEntry(entry, RuleSymlinkOut, "links to the absolute path %q, outside the volume", target)
	}
	descended := false
	for part := range strings.SplitSeq(target, "/") {
		switch part {
		case "", ".":
		case "..":
			if descended {
				return unsafeEntry(entry, RuleSymlinkOut, "links to %q, which climbs with '..' after a name (a symlink there could lead outside the volume)", target)
			}
		default:
			descended = true
		}
	}
	resolved := path.Join(path.Dir(rel), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return unsafeEntry(entry, RuleSymlinkOut, "links to %q, outside the volume", target)
	}
	return nil
}

// sparseInfo says whether hdr is a sparse file and, when its PAX records hold the map
// (GNU sparse 0.0 and 0.1), where its data lies.
func sparseInfo(hdr *tar.Header) (bool, []Region) {
	sparse := hdr.Typeflag == tar.TypeGNUSparse
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			sparse = true
			break
		}
	}
	m, ok := hdr.PAXRecords["GNU.sparse.map"]
	if !sparse || !ok {
		return sparse, nil
	}
	fields := strings.Split(m, ",")
	if len(fields)%2 != 0 {
		return true, nil // Go's reader refuses such a map; nothing to report
	}
	var regions []Region
	for i := 0; i < len(fields); i += 2 {
		off, err1 := strconv.ParseInt(fields[i], 10, 64)
		n, err2 := strconv.ParseInt(fields[i+1], 10, 64)
		if err1 != nil || err2 != nil {
			return true, nil
		}
		if n > 0 { // GNU tar ends the map with an empty region at the file's end
			regions = append(regions, Region{Offset: off, Length: n})
		}
	}
	return true, regions
}
