package crashpoint_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/worker/crashpoint"
)

func TestParse(t *testing.T) {
	for spec, want := range map[string]*crashpoint.Point{
		"":                     nil,
		"after:SnapshotVolume": {When: "after", Activity: "SnapshotVolume"},
		"before:RemoveVolume":  {When: "before", Activity: "RemoveVolume"},
		"during:restore@2MiB":  {When: "during", Transfer: "restore", Bytes: 2 << 20},
		"pause:upload@512KiB":  {When: "pause", Transfer: "upload", Bytes: 512 << 10},
		"during:download@100":  {When: "during", Transfer: "download", Bytes: 100},
		"during:copy@1MiB":     {When: "during", Transfer: "copy", Bytes: 1 << 20},
		"inside:SwapVolume":    {When: "inside", Activity: "SwapVolume"},
	} {
		got, err := crashpoint.Parse(spec)
		require.NoError(t, err, spec)
		require.Equal(t, want, got, spec)
	}
	for _, spec := range []string{"now", "after:", "during:restore", "during:restore@0", "during:move@1MiB", "during:restore@1GB", "later:X", "inside:CopyVolume"} {
		_, err := crashpoint.Parse(spec)
		require.ErrorContains(t, err, "want before:<Activity>", spec)
	}
}

func TestOnlyInsideSwapVolumeStopsTheSwapBetweenMoves(t *testing.T) {
	inside, err := crashpoint.Parse("inside:SwapVolume")
	require.NoError(t, err)
	require.True(t, inside.StopsSwapBetweenMoves())
	after, err := crashpoint.Parse("after:SwapVolume")
	require.NoError(t, err)
	require.False(t, after.StopsSwapBetweenMoves())
	var none *crashpoint.Point
	require.False(t, none.StopsSwapBetweenMoves())
}
