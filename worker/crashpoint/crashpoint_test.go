package crashpoint

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseIsInertWithoutASpecAndStrictWithOne(t *testing.T) {
	p, err := Parse("")
	require.NoError(t, err)
	require.Nil(t, p, "no crash point unless REWIND_CRASH_AT names one")
	p, err = Parse("after:SnapshotVolume")
	require.NoError(t, err)
	require.Equal(t, &Point{When: "after", Activity: "SnapshotVolume"}, p)
	for _, bad := range []string{"SnapshotVolume", "during:SnapshotVolume", "before:"} {
		_, err := Parse(bad)
		require.ErrorContains(t, err, "want before:<Activity> or after:<Activity>", bad)
	}
}
