package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows"
)

// TestFullRollbackSurvivesAWorkerCrashAtEveryDataStep kills the worker (SIGKILL, through
// REWIND_CRASH_AT) around the steps that touch the data, starts a fresh worker, and checks the
// rollback completes, no completed step is recorded twice, and the volume was removed only
// after its snapshot had completed.
func TestFullRollbackSurvivesAWorkerCrashAtEveryDataStep(t *testing.T) {
	s := needDocker(t)
	for _, point := range []string{"after:SnapshotVolume", "before:RemoveVolume", "after:RemoveVolume", "after:RestoreVolume"} {
		t.Run(point, func(t *testing.T) {
			srv, c := startTemporal(t)
			e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second})
			e.up()
			_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
			require.NoError(t, err)
			require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
			doomed := e.startWorker("REWIND_CRASH_AT=" + point)

			code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "crash test", "--as", "alice")
			require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			doomed.crashed(t)
			e.startWorker()

			id := workflows.WorkflowID(e.stack)
			e.awaitRestored(c, id)

			// A clean run schedules each step once and Note three times (reason, decisions,
			// report); a crash must not add a second run of a finished step.
			runs := history(t, c, id)
			for name, n := range runs.scheduled {
				want := 1
				if name == "Note" {
					want = 3
				}
				require.Equal(t, want, n, "%s scheduled", name)
				require.Equal(t, want, runs.completed[name], "%s completed", name)
			}
			runs.removedAfterSnapshot(t)
		})
	}
}
