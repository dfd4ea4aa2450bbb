package integration

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/integration/benchtable"
	"github.com/algotrendy/rewind/workflows/api"
)

// BenchmarkDrill proves the demo's backup at each size of REWIND_BENCH_SIZES (default
// 1 GiB) with `rewind drill --wait`, and sets it beside what a P1 full rollback of the same
// backup spends restoring it into its staging volume (its PrepareVolume step, from the
// history): a drill should cost one staging restore, a database start and a check.
func BenchmarkDrill(b *testing.B) {
	s := needDocker(b)
	srv, c := startTemporal(b)
	sizes := benchSizes(b, 1<<30)
	e := newEnv(b, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, stack: uniqueName("demo-")})
	e.up()
	e.startWorker()
	for range b.N {
		for _, size := range sizes {
			mib := fmt.Sprintf("%d MiB", size>>20)
			e.padVolume(size)
			e.goodBackup()

			start := time.Now()
			code, out, errOut := e.rewind("drill", "--stack", e.stack, "--wait", "--as", "carol")
			drill := time.Since(start)
			require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(b, out, "proven restorable at")

			e.damage()
			code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench drill", "--as", "alice", "--wait")
			require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			staging := historySpans(b, c, api.WorkflowID(e.stack)).took(b, "PrepareVolume")

			benchtable.Raw(b, "drill "+mib, drill.Seconds(), staging.Seconds())
			benchtable.Add(b, benchtable.Row{Measure: "rewind drill --wait of " + mib + " (restore aside, database started, data checked) vs a P1 full rollback's staging restore of the same backup",
				Rewind: benchtable.Seconds(drill), Runbook: benchtable.Seconds(staging) + " (staging restore)", Ratio: drill.Seconds() / staging.Seconds()})
			// Room for the next size: this one's backups go.
			require.NoError(b, os.RemoveAll(e.backups))
			require.NoError(b, os.MkdirAll(e.backups, 0o755))
		}
	}
}

// took is how long the run's first step of that name ran.
func (r runSpans) took(t testing.TB, name string) time.Duration {
	t.Helper()
	for _, s := range r.steps {
		if s.name == name {
			return s.to.Sub(s.from)
		}
	}
	t.Fatalf("no step %s in the run's spans:\n%s", name, r.table())
	return 0
}
