package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"

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
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			var res workflows.Result
			require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
			require.Equal(t, "completed", res.Outcome)
			rows, err := e.rowCount()
			require.NoError(t, err)
			require.Equal(t, float64(500), rows)

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
			var snapshotDone, removeStarted int64
			typeOf := map[int64]string{}
			it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
			for it.HasNext() {
				ev, err := it.Next()
				require.NoError(t, err)
				switch a := ev.GetAttributes().(type) {
				case *historypb.HistoryEvent_ActivityTaskScheduledEventAttributes:
					typeOf[ev.GetEventId()] = a.ActivityTaskScheduledEventAttributes.GetActivityType().GetName()
					if typeOf[ev.GetEventId()] == "RemoveVolume" {
						removeStarted = ev.GetEventId()
					}
				case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
					if typeOf[a.ActivityTaskCompletedEventAttributes.GetScheduledEventId()] == "SnapshotVolume" {
						snapshotDone = ev.GetEventId()
					}
				}
			}
			require.Greater(t, removeStarted, snapshotDone, "the volume was removed only after its snapshot was stored and checked")
			require.Positive(t, snapshotDone)
		})
	}
}
