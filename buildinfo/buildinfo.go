// Package buildinfo says which build of Rewind is running, for `rewind --version` and
// `worker --version`: the module version and the commit Go stamped into the binary.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Version is the one line `--version` prints for the named binary.
func Version(name string) string {
	bi, _ := debug.ReadBuildInfo()
	return Format(name, bi)
}

// Format says what bi tells of a build: "rewind v1.2.0 (commit 1a2b3c4, 2026-12-03,
// modified)". A build without module or VCS stamps (go run, -buildvcs=false) says so
// rather than inventing a version.
func Format(name string, bi *debug.BuildInfo) string {
	if bi == nil {
		return name + " (devel, no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var revision, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			when, _, _ = strings.Cut(s.Value, "T")
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if revision == "" {
		return fmt.Sprintf("%s %s (no commit recorded)", name, version)
	}
	parts := []string{"commit " + revision[:min(len(revision), 7)]}
	if when != "" {
		parts = append(parts, when)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return fmt.Sprintf("%s %s (%s)", name, version, strings.Join(parts, ", "))
}
