package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestDeployedBacksUpFirstAndTheGuardsRollbackRestoresThatBackup: rewind deployed takes a
// backup before it runs the deploy command, the guard it starts proposes a full rollback
// pinned to that backup when the deploy goes bad, and rewind plan names it. A deploy
// command that fails starts no guard.
func TestDeployedBacksUpFirstAndTheGuardsRollbackRestoresThatBackup(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: full, "+shortWindows)
	e.startWorker()

	code, out, errOut := e.rewind("deployed", "--stack", e.stack, "--version", "v2.7", "--as", "alice", "--", "false")
	require.NotEqual(t, 0, code, "a failed deploy command: %s", out)
	require.Contains(t, errOut, "the deploy command failed")
	require.Contains(t, errOut, "no guard started")

	// Backups are named to the second and never overwritten: the next one is a second on.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	code, out, errOut = e.rewind("deployed", "--stack", e.stack, "--version", "v2.7", "--as", "alice", "--", "sh", "-c", "echo deploying now")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	taken := backupName.FindAllString(out, -1)
	require.NotEmpty(t, taken, out)
	name := taken[len(taken)-1]
	require.Less(t, strings.Index(out, "backup of volume"), strings.Index(out, "deploying now"), "the backup is stored before the deploy runs")
	require.Contains(t, out, "backup before the deploy: "+name)
	mark, err := backups.ReadMarker(context.Background(), mustStore(t, e.backups), name)
	require.NoError(t, err)
	require.Equal(t, backups.DeployReason("v2.7"), mark.Reason)

	code, out, errOut = e.rewind("plan", "full", "--stack", e.stack, "--severity", "P2")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "the last deploy's backup is "+name+" (before deploying v2.7")

	id := api.GuardWorkflowID(e.stack)
	e.awaitSamples(c, id, 2)
	e.misbehave("500s")
	awaitNotice(t, c, id, "proposed a P2 full rollback (rewind-"+e.stack+" run ")
	rollback := api.WorkflowID(e.stack)
	e.awaitApprovalGate(rollback)
	it := c.GetWorkflowHistory(context.Background(), rollback, "", false, 0)
	require.True(t, it.HasNext())
	first, err := it.Next()
	require.NoError(t, err)
	var req api.Request
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0], &req))
	require.Equal(t, name, req.Backup, "the guard's full rollback restores the backup taken before the deploy")
	require.Contains(t, req.Reason, "backup taken before the deploy: "+name)
}

func mustStore(t *testing.T, dir string) storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), storage.Location{Dir: dir})
	require.NoError(t, err)
	return st
}
