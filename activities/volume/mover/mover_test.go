package mover

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// volumes lays out three volumes as the engine keeps them, each _data holding one file.
func volumes(t *testing.T) Volumes {
	v := Volumes{Root: t.TempDir(), Live: "app_db", Staging: "rewind-staging-1-app_db", Forensic: "rewind-forensic-1-app_db"}
	for name, body := range map[string]string{v.Live: "damaged", v.Staging: "restored", v.Forensic: ""} {
		require.NoError(t, os.MkdirAll(v.data(name), 0o755))
		if body != "" {
			require.NoError(t, os.WriteFile(filepath.Join(v.data(name), "market.sqlite"), []byte(body), 0o600))
		}
	}
	return v
}

func content(t *testing.T, v Volumes, name string) string {
	b, err := os.ReadFile(filepath.Join(v.data(name), "market.sqlite"))
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

func TestSwapMovesTheStagedDataInAndTheDamagedDataAsideAndIsIdempotent(t *testing.T) {
	v := volumes(t)
	in, err := Read(v)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, Swap(v, in))
		require.Equal(t, "restored", content(t, v, v.Live))
		require.Equal(t, "damaged", content(t, v, v.Forensic))
		require.DirExists(t, v.data(v.Staging), "the staging volume keeps an empty folder")
	}
	for range 2 {
		require.NoError(t, Unswap(v, in))
		require.Equal(t, "damaged", content(t, v, v.Live), "put back")
		require.Equal(t, "restored", content(t, v, v.Staging))
		require.DirExists(t, v.data(v.Forensic))
	}
}

func TestAnInterruptedSwapGoesOnAndCanBeUndone(t *testing.T) {
	v := volumes(t)
	in, err := Read(v)
	require.NoError(t, err)
	// A crash after the first rename: the live volume has no folder yet.
	require.NoError(t, move(v.data(v.Live), v.data(v.Forensic), in.Live))
	require.NoDirExists(t, v.data(v.Live))

	require.NoError(t, Unswap(v, in), "undo from the middle")
	require.Equal(t, "damaged", content(t, v, v.Live))
	require.Equal(t, "restored", content(t, v, v.Staging))

	require.NoError(t, move(v.data(v.Live), v.data(v.Forensic), in.Live))
	require.NoError(t, Swap(v, in), "go on from the middle")
	require.Equal(t, "restored", content(t, v, v.Live))
	require.Equal(t, "damaged", content(t, v, v.Forensic))
}

func TestSwapRefusesContentItDidNotRecord(t *testing.T) {
	v := volumes(t)
	in, err := Read(v)
	require.NoError(t, err)
	in.Live++
	err = Swap(v, in)
	require.ErrorContains(t, err, "holds other content")
	require.Equal(t, "damaged", content(t, v, v.Live), "nothing was moved")
	require.Equal(t, "restored", content(t, v, v.Staging))
}

// TestASwapStoppedBetweenItsMovesGoesOnWhenRunAgain: the crash point inside:SwapVolume
// stops the mover after its first rename; the next run finds that rename done and ends
// the swap.
func TestASwapStoppedBetweenItsMovesGoesOnWhenRunAgain(t *testing.T) {
	v := volumes(t)
	in, err := Read(v)
	require.NoError(t, err)
	args := []string{"swap", "--root", v.Root, "--live", v.Live, "--staging", v.Staging, "--forensic", v.Forensic,
		"--live-inode", fmt.Sprint(in.Live), "--staging-inode", fmt.Sprint(in.Staging)}
	var out, errOut bytes.Buffer
	require.Equal(t, 3, Main(append(args, "--stop-between-moves"), nil, &out, &errOut), errOut.String())
	require.Contains(t, errOut.String(), "stopped between the two renames")
	require.NoDirExists(t, v.data(v.Live), "the live volume has no folder between the two renames")
	require.Equal(t, "damaged", content(t, v, v.Forensic))

	require.Equal(t, 0, Main(args, nil, &out, &errOut), errOut.String())
	require.Equal(t, "restored", content(t, v, v.Live))
	require.Equal(t, "damaged", content(t, v, v.Forensic))
}
