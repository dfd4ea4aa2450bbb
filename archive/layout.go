package archive

import (
	"archive/tar"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// LayoutMode says whether a Layout is detected from the archive or given.
type LayoutMode string

// The layout modes.
const (
	// LayoutAuto finds the volume's root from the archive's first entries (see DetectLayout).
	LayoutAuto LayoutMode = "auto"
	// LayoutFixed strips StripComponents leading components, then takes Root.
	LayoutFixed LayoutMode = "fixed"
)

// Detection looks for a "_data" component among the first detectDepth components of the
// first names; it holds back at most detectEntries entries and detectBytes of their
// content while it looks.
const (
	detectDepth   = 6
	detectEntries = 64
	detectBytes   = 1 << 20
)

// Layout says where a volume's content lies inside a backup. The zero value is LayoutAuto.
//
// A fixed layout strips StripComponents leading components from every name (after
// cleaning, so "./a" is "a"), then the rest must lie under Root ("" for all of it). A name
// that is an ancestor of the root ("vol/" above "vol/_data/") is skipped when it is a
// directory; any other name outside the root is refused. The root itself maps to "."
// and restores the volume's own owner, mode and mtime.
//
// Layouts travel in activity inputs, so every field is exported and plain.
type Layout struct {
	// Mode is LayoutAuto or LayoutFixed. Empty means auto, unless StripComponents or Root
	// is set (a layout recorded before Mode existed): then it is fixed.
	Mode            LayoutMode
	StripComponents int
	Root            string
}

// RunbookLayout is the layout of `tar -czf b.tgz -C /var/lib/docker/volumes <volume>`:
// <volume>/_data/... for any volume name.
var RunbookLayout = Layout{Mode: LayoutFixed, StripComponents: 1, Root: "_data"}

// FlatLayout is the layout of `tar -czf b.tgz -C <mountpoint> .`: the archive's root is the
// volume's root.
func FlatLayout() Layout { return Layout{Mode: LayoutFixed} }

// StripLayout strips n leading components, as `tar --strip-components=n` does.
func StripLayout(n int) Layout { return Layout{Mode: LayoutFixed, StripComponents: n} }

// IsAuto says whether the layout is to be detected from the archive.
func (l Layout) IsAuto() bool {
	switch l.Mode {
	case LayoutAuto:
		return true
	case "":
		return l.StripComponents == 0 && l.Root == ""
	}
	return false
}

// Validate refuses a layout no archive could match.
func (l Layout) Validate() error {
	switch l.Mode {
	case "", LayoutAuto, LayoutFixed:
	default:
		return fmt.Errorf("backup layout mode %q is not %q or %q", l.Mode, LayoutAuto, LayoutFixed)
	}
	if l.StripComponents < 0 {
		return fmt.Errorf("backup layout strips %d components; want 0 or more", l.StripComponents)
	}
	if l.Root != "" {
		if l.Root != path.Clean(l.Root) || path.IsAbs(l.Root) || l.Root == "." || hasDotDot(l.Root) {
			return fmt.Errorf("backup layout root %q is not a clean relative path inside the archive", l.Root)
		}
	}
	return nil
}

// String is the layout as `backups.layout` spells it; ParseLayout reads it back.
func (l Layout) String() string {
	if l.IsAuto() {
		return "auto"
	}
	switch {
	case l.StripComponents == RunbookLayout.StripComponents && l.Root == RunbookLayout.Root:
		return "runbook"
	case l.StripComponents == 0 && l.Root == "":
		return "flat"
	case l.Root == "":
		return "strip:" + strconv.Itoa(l.StripComponents)
	case l.StripComponents == 0:
		return "root:" + l.Root
	}
	return fmt.Sprintf("strip:%d,root:%s", l.StripComponents, l.Root)
}

// ParseLayout reads `backups.layout`:
//
//	auto          detect (the default; "" too)
//	runbook       <volume>/_data/...          (tar -C /var/lib/docker/volumes <volume>)
//	flat          ./...                       (tar -C <mountpoint> .)
//	strip:N       drop N leading components   (tar --strip-components=N)
//	root:PATH     the content lies under PATH (var/lib/docker/volumes/db/_data)
//	strip:N,root:PATH
func ParseLayout(s string) (Layout, error) {
	bad := func(why string) (Layout, error) {
		return Layout{}, fmt.Errorf("backup layout %q %s; want auto, runbook, flat, strip:N, root:PATH or strip:N,root:PATH", s, why)
	}
	switch s = strings.TrimSpace(s); s {
	case "", "auto":
		return Layout{Mode: LayoutAuto}, nil
	case "runbook":
		return RunbookLayout, nil
	case "flat":
		return FlatLayout(), nil
	}
	l := Layout{Mode: LayoutFixed}
	var seenStrip, seenRoot bool
	for part := range strings.SplitSeq(s, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), ":")
		switch {
		case !ok:
			return bad("is not understood")
		case key == "strip" && !seenStrip:
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return bad("strips a count that is not a whole number of 0 or more")
			}
			l.StripComponents, seenStrip = n, true
		case key == "root" && !seenRoot:
			l.Root, seenRoot = strings.TrimSuffix(strings.TrimPrefix(value, "./"), "/"), true
		default:
			return bad(fmt.Sprintf("has an unknown or repeated part %q", key))
		}
	}
	if err := l.Validate(); err != nil {
		return bad(fmt.Sprintf("is invalid (%v)", err))
	}
	return l, nil
}

// DetectLayout picks the layout from the first names of an archive, in archive order.
//
// The rule: the first name with a "_data" component among its first 6 components decides,
// and the volume's root is that name up to and including "_data" (vol/_data,
// var/lib/docker/volumes/vol/_data) — Docker keeps a volume's content in
// /var/lib/docker/volumes/<volume>/_data. A name deeper than 6 components without one
// decides flat: the archive's root is the volume's root (./... allowed). Otherwise more
// names are needed; with final set (the archive ended, or detection held back as much as
// it may) the answer is flat.
//
// A flat backup of a volume whose only top-level folder is named _data reads as the
// runbook layout; pin backups.layout: flat for such a volume.
func DetectLayout(names []string, final bool) (Layout, bool) {
	for _, name := range names {
		if name == "" || strings.HasPrefix(name, "/") || hasDotDot(name) {
			continue // refused by the checks, whatever the layout
		}
		clean := path.Clean(name)
		if clean == "." {
			continue
		}
		parts := strings.Split(clean, "/")
		for i := 0; i < len(parts) && i < detectDepth; i++ {
			if parts[i] == "_data" {
				return Layout{Mode: LayoutFixed, Root: path.Join(parts[:i+1]...)}, true
			}
		}
		if len(parts) > detectDepth {
			return FlatLayout(), true
		}
	}
	if final {
		return FlatLayout(), true
	}
	return Layout{}, false
}

// placement is where a name falls relative to a fixed layout's root.
type placement int

const (
	inVolume placement = iota
	aboveRoot
	outsideRoot
)

// place maps an archive name into the volume: the slash path relative to the volume's
// root ("." for the root itself) and where it falls. It refuses names no layout may hold.
func (l Layout) place(name string) (string, placement, error) {
	if name == "" {
		return "", 0, unsafeEntry(name, RuleEmptyName, "has an empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", 0, unsafeEntry(name, RuleAbsolute, "is an absolute path")
	}
	if hasDotDot(name) {
		return "", 0, unsafeEntry(name, RuleDotDot, "climbs out with '..'")
	}
	clean := path.Clean(name)
	var parts []string
	if clean != "." {
		parts = strings.Split(clean, "/")
	}
	if len(parts) < l.StripComponents {
		return "", aboveRoot, nil
	}
	rest := "."
	if len(parts) > l.StripComponents {
		rest = path.Join(parts[l.StripComponents:]...)
	}
	switch {
	case l.Root == "":
		return rest, inVolume, nil
	case rest == l.Root:
		return ".", inVolume, nil
	case strings.HasPrefix(rest, l.Root+"/"):
		return strings.TrimPrefix(rest, l.Root+"/"), inVolume, nil
	case rest == "." || strings.HasPrefix(l.Root, rest+"/"):
		return "", aboveRoot, nil
	}
	return "", outsideRoot, nil
}

// describeRoot names the volume's root in messages: "*/_data/" for the runbook layout.
func (l Layout) describeRoot() string {
	root := strings.Repeat("*/", l.StripComponents) + l.Root
	if l.Root == "" {
		root = strings.TrimSuffix(root, "/")
	}
	if root == "" {
		return "the archive's root"
	}
	return root + "/"
}

func hasDotDot(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// Map returns where hdr lands inside the volume ("" for the volume's root, skip=true for
// entries above the root), or an UnsafeError. It checks one header alone.
//
// Deprecated: Map cannot see hard-link order, symlinks written earlier or auto layouts;
// use Walk, or a Checker for a caller that reads tar itself.
func (l Layout) Map(hdr *tar.Header) (target string, skip bool, err error) {
	if l.IsAuto() {
		return "", false, fmt.Errorf("map entry %q: an auto layout needs the whole archive; use Walk", hdr.Name)
	}
	rel, where, err := l.place(hdr.Name)
	if err != nil {
		return "", false, err
	}
	switch where {
	case aboveRoot:
		return "", true, nil
	case outsideRoot:
		return "", false, unsafeEntry(hdr.Name, RuleOutsideRoot, "lies outside %s (layout %s); set the stack's backups.layout", l.describeRoot(), l)
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if err := checkSymlinkTarget(hdr.Name, rel, hdr.Linkname); err != nil {
			return "", false, err
		}
	case tar.TypeChar, tar.TypeBlock:
		return "", false, unsafeEntry(hdr.Name, RuleDevice, "is a device node, which no database backup holds")
	}
	if rel == "." {
		rel = ""
	}
	return rel, false, nil
}

// MapLink rewrites a hard link's target (an archive name) into the volume, checking it.
//
// Deprecated: MapLink cannot tell whether the target came earlier; use Walk or a Checker.
func (l Layout) MapLink(hdr *tar.Header) (string, error) {
	if l.IsAuto() {
		return "", fmt.Errorf("map link %q: an auto layout needs the whole archive; use Walk", hdr.Name)
	}
	rel, where, err := l.place(hdr.Linkname)
	if err != nil || where != inVolume || rel == "." {
		return "", unsafeEntry(hdr.Name, RuleHardLinkOut, "hard-links to %q, outside the volume", hdr.Linkname)
	}
	return rel, nil
}
