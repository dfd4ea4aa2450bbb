package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/integration/benchtable"
	"github.com/algotrendy/rewind/workflows/api"
)

// benchSizes are REWIND_BENCH_SIZES (MiB, comma-separated), or def.
func benchSizes(tb testing.TB, def ...int64) []int64 {
	v := os.Getenv("REWIND_BENCH_SIZES")
	if v == "" {
		return def
	}
	var sizes []int64
	for _, f := range strings.Split(v, ",") {
		var mib int64
		_, err := fmt.Sscan(f, &mib)
		require.NoError(tb, err, "REWIND_BENCH_SIZES=%s: sizes in MiB, comma-separated", v)
		sizes = append(sizes, mib<<20)
	}
	return sizes
}

// BenchmarkBackup takes a backup of the demo's volume at each size of REWIND_BENCH_SIZES
// (default 1 GiB) through rewind backup --wait, beside the runbook's own `tar -czf` of
// the volume's mountpoint in the same run, in pause and in checkpoint mode; it also reports
// how long writes were held (pause) or the database stayed in checkpoint mode.
func BenchmarkBackup(b *testing.B) {
	s := needDocker(b)
	srv, _ := startTemporal(b)
	sizes := benchSizes(b, 1<<30)
	for range b.N {
		for _, mode := range []string{"pause", "checkpoint"} {
			e := newEnv(b, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, stack: uniqueName("demo-")})
			e.consistency(mode)
			e.up()
			e.startWorker()
			for _, size := range sizes {
				mib := fmt.Sprintf("%d MiB", size>>20)
				e.padVolume(size)
				runbook := e.runbookTar()

				start := time.Now()
				code, out, errOut := e.rewind("backup", "--stack", e.stack, "--wait", "--json", "--as", "carol")
				took := time.Since(start)
				require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				var res api.BackupResult
				require.NoError(b, json.Unmarshal([]byte(out), &res), out)
				require.True(b, res.Released, res.Release)

				ratio := took.Seconds() / runbook.Seconds()
				benchtable.Raw(b, "backup "+mode+" "+mib, took.Seconds(), runbook.Seconds(), res.Held.Seconds())
				benchtable.Add(b, benchtable.Row{Measure: fmt.Sprintf("rewind backup --wait of %s (%s) vs the runbook's tar -czf of the mountpoint", mib, mode),
					Rewind: benchtable.Seconds(took), Runbook: benchtable.Seconds(runbook), Ratio: ratio, Goal: "≤ 0.3×", Met: ratio <= 0.3})
				held := "writes held (docker pause)"
				if mode == "checkpoint" {
					held = "database in checkpoint mode (writes go on)"
				}
				benchtable.Add(b, benchtable.Row{Measure: fmt.Sprintf("%s during that backup of %s", held, mib), Rewind: benchtable.Seconds(res.Held)})
				// Room for the next size: the backups of this one go.
				require.NoError(b, os.RemoveAll(e.backups))
				require.NoError(b, os.MkdirAll(e.backups, 0o755))
			}
		}
	}
}

// runbookTar is the runbook's backup as written: tar -czf of the volume's mountpoint,
// timed; the archive goes at once.
func (e *env) runbookTar() time.Duration {
	e.t.Helper()
	out := filepath.Join(e.t.TempDir(), "questdb_backup_runbook.tar.gz")
	vol := demostack.Volume(e.project)
	start := time.Now()
	got, err := exec.Command("tar", "-czf", out, "-C", "/var/lib/docker/volumes", vol).CombinedOutput()
	took := time.Since(start)
	require.NoError(e.t, err, "%s", got)
	require.NoError(e.t, os.Remove(out))
	return took
}
