package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	stamped := func(version string, settings ...debug.BuildSetting) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/algotrendy/rewind", Version: version}, Settings: settings}
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"released and clean", stamped("v0.3.0",
			debug.BuildSetting{Key: "vcs.revision", Value: "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"},
			debug.BuildSetting{Key: "vcs.time", Value: "2026-12-03T09:14:02Z"},
			debug.BuildSetting{Key: "vcs.modified", Value: "false"}),
			"rewind v0.3.0 (commit 1a2b3c4, 2026-12-03)"},
		{"pseudo-version with local edits", stamped("v0.0.0-20261203091402-1a2b3c4d5e6f+dirty",
			debug.BuildSetting{Key: "vcs.revision", Value: "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"},
			debug.BuildSetting{Key: "vcs.time", Value: "2026-12-03T09:14:02Z"},
			debug.BuildSetting{Key: "vcs.modified", Value: "true"}),
			"rewind v0.0.0-20261203091402-1a2b3c4d5e6f+dirty (commit 1a2b3c4, 2026-12-03, modified)"},
		{"built without VCS stamps", stamped("(devel)"), "rewind (devel) (no commit recorded)"},
		{"no version at all", stamped(""), "rewind (devel) (no commit recorded)"},
		{"no build information", nil, "rewind (devel, no build information)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Format("rewind", tc.bi); got != tc.want {
				t.Errorf("Format() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestVersionOfThisTestBinary: a test binary has build information; the line names the
// binary and never panics on what the toolchain stamped.
func TestVersionOfThisTestBinary(t *testing.T) {
	if got := Version("rewind-worker"); !strings.HasPrefix(got, "rewind-worker ") {
		t.Errorf("Version() = %q", got)
	}
}
