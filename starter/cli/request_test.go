package cli

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestARequestNamesAStackOrAGroup(t *testing.T) {
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	base := startFlags{severity: "p2", reason: "bad data"}
	for _, tc := range []struct {
		name  string
		flags func(f *startFlags)
		want  string
	}{
		{"neither", func(*startFlags) {}, "missing --stack"},
		{"both", func(f *startFlags) { f.stack, f.group = "eu", "desks" }, "--stack and --group both given"},
		{"a backup for a group", func(f *startFlags) { f.group, f.backup = "desks", "b.tar.gz" }, "--backup names one stack's backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := base
			tc.flags(&f)
			_, err := newRequest("full", f, "alice", now)
			require.ErrorContains(t, err, tc.want)
			require.ErrorAs(t, err, new(badInput))
		})
	}
	f := base
	f.group = "desks"
	req, err := newRequest("full", f, "alice", now)
	require.NoError(t, err)
	require.Equal(t, "desks", req.Group)
	require.Empty(t, req.Stack)
	require.Equal(t, "P2", req.Severity)
}
