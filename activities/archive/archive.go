// Package archive holds the rules every tar entry Rewind restores must pass: it maps an
// entry of a backup to its place in a volume and refuses what would land outside it.
package archive

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// ErrUnsafeEntry is the Temporal error type of a backup entry that escapes its volume.
const ErrUnsafeEntry = "UnsafeArchiveEntry"

// Layout says how a backup's entries map into a volume. The runbook's backups hold
// <volume>/_data/...: strip one component, and the rest lies under Root "_data".
type Layout struct {
	StripComponents int
	// Root is the folder (after stripping) that holds the volume's content; empty: all of it.
	Root string
}

// RunbookLayout is the layout of `tar -czf ... -C /var/lib/docker/volumes <volume>`.
var RunbookLayout = Layout{StripComponents: 1, Root: "_data"}

// UnsafeError names an entry that would be written outside the volume.
type UnsafeError struct {
	Entry  string
	Reason string
}

func (e *UnsafeError) Error() string {
	return fmt.Sprintf("entry %q %s", e.Entry, e.Reason)
}

// Map returns where hdr lands inside the volume ("" for the volume's root, skip=true for
// entries the layout drops), or an UnsafeError for an entry that escapes the volume.
func (l Layout) Map(hdr *tar.Header) (target string, skip bool, err error) {
	name := hdr.Name
	if strings.HasPrefix(name, "/") {
		return "", false, &UnsafeError{name, "is an absolute path"}
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", false, &UnsafeError{name, "climbs out with '..'"}
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", true, nil
	}
	parts := strings.Split(clean, "/")
	if len(parts) <= l.StripComponents {
		return "", true, nil
	}
	rel := path.Join(parts[l.StripComponents:]...)
	if l.Root != "" {
		switch {
		case rel == l.Root:
			rel = ""
		case strings.HasPrefix(rel, l.Root+"/"):
			rel = strings.TrimPrefix(rel, l.Root+"/")
		default:
			return "", false, &UnsafeError{name, fmt.Sprintf("lies outside %s/ after stripping %d component(s); set the stack's backup layout", l.Root, l.StripComponents)}
		}
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if err := checkLink(name, rel, hdr.Linkname, true); err != nil {
			return "", false, err
		}
	case tar.TypeLink:
		if err := checkLink(name, rel, hdr.Linkname, false); err != nil {
			return "", false, err
		}
	case tar.TypeReg, tar.TypeDir, tar.TypeFifo, tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink:
	case tar.TypeChar, tar.TypeBlock:
		return "", false, &UnsafeError{name, "is a device node, which no database backup holds"}
	}
	return rel, false, nil
}

// checkLink refuses links that point outside the volume: absolute targets, and relative
// ones that climb above its root from where the link sits.
func checkLink(entry, rel, target string, symlink bool) error {
	if target == "" {
		return &UnsafeError{entry, "is a link without a target"}
	}
	if strings.HasPrefix(target, "/") {
		return &UnsafeError{entry, fmt.Sprintf("links to the absolute path %q", target)}
	}
	base := path.Dir(rel)
	if !symlink {
		// Hard link targets are archive names, relative to the archive's root.
		return nil
	}
	resolved := path.Join(base, target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return &UnsafeError{entry, fmt.Sprintf("links to %q, outside the volume", target)}
	}
	return nil
}

// MapLink rewrites a hard link's target (an archive name) into the volume, checking it too.
func (l Layout) MapLink(hdr *tar.Header) (string, error) {
	t, skip, err := l.Map(&tar.Header{Name: hdr.Linkname, Typeflag: tar.TypeReg})
	if err != nil {
		return "", &UnsafeError{hdr.Name, fmt.Sprintf("hard-links to %q, outside the volume", hdr.Linkname)}
	}
	if skip || t == "" {
		return "", &UnsafeError{hdr.Name, fmt.Sprintf("hard-links to %q, which is not a file in the volume", hdr.Linkname)}
	}
	return t, nil
}
