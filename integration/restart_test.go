package integration

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestRollbackWaitingForApprovalSurvivesATemporalRestart stops Temporal while a P2 full
// rollback waits at its gate, starts it again on the same SQLite file, and approves: the
// rollback carries on from where it waited and restores the database.
func TestRollbackWaitingForApprovalSurvivesATemporalRestart(t *testing.T) {
	s := needDocker(t)
	start := fileTemporal(t)
	srv := start()
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second})
	e.up()
	_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	e.startWorker()

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupted", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := api.WorkflowID(e.stack)
	e.awaitApprovalGate(id)

	srv.Stop()
	srv = start()
	defer srv.Stop()

	code, out, errOut = e.rewind("approve", id, "--as", "bob")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	c := dial(t, srv.GRPCAddr())
	e.awaitRestored(c, id)
	runs := history(t, c, id)
	require.Zero(t, runs.stepsRunTwice(), "steps of the rollback ran again: %v", runs.scheduled)
	s.report.add(chaosRow{scenario: "full, Temporal stopped and started while waiting for approval", outcome: "completed after approval", runTwice: runs.stepsRunTwice()})
}

// TestRollbackSurvivesATemporalRestartMidRestore holds the restore half-way (a pause point),
// stops Temporal, starts it again on the same SQLite file, lets the restore go on, and
// checks the rollback completes with no step run twice and at most one batch sent again.
func TestRollbackSurvivesATemporalRestartMidRestore(t *testing.T) {
	s := needDocker(t)
	start := fileTemporal(t)
	srv := start()
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, transferBatch: transferBatch})
	e.up()
	require.NoError(t, demostack.Pad(context.Background(), s.engine, e.project, padFiles, 1<<20))
	_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	w := e.startWorker("REWIND_CRASH_AT=pause:restore@5MiB")

	id := e.startFull()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, w.logs.String(), "paused after")
	}, 2*time.Minute, 100*time.Millisecond, "the restore reaches its pause point")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, out, _ := e.rewind("status", id)
		assert.Equal(c, 0, code)
		assert.Regexp(c, `↻ PrepareVolume \[[█░]+\] +\d+%: [0-9.]+ MiB of [0-9.]+ MiB of the backup read`, out)
	}, time.Minute, 200*time.Millisecond, "rewind status shows how far the restore got")
	srv.Stop()
	srv = start()
	defer srv.Stop()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGUSR1))

	c := dial(t, srv.GRPCAddr())
	e.awaitRestored(c, id)
	runs := history(t, c, id)
	require.Zero(t, runs.stepsRunTwice(), "steps of the rollback ran again: %v", runs.scheduled)
	var restored volume.RestoreResult
	runs.result(t, "PrepareVolume", &restored)
	resent := w.moved(t)[meter.Restore] - restored.Bytes
	require.LessOrEqual(t, resent, int64(transferBatch+transferBatch/8), "at most one batch sent again")
	s.report.add(chaosRow{scenario: "full, Temporal stopped and started during the restore", outcome: fmt.Sprintf("completed (restore attempt %d)", runs.attempt["PrepareVolume"]), runTwice: runs.stepsRunTwice(), resent: resent})
}
