package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows"
)

// TestRollbackWaitingForApprovalSurvivesATemporalRestart stops Temporal while a P2 full
// rollback waits at its gate, starts it again on the same SQLite file, and approves: the
// rollback carries on from where it waited and restores the database.
func TestRollbackWaitingForApprovalSurvivesATemporalRestart(t *testing.T) {
	s := needDocker(t)
	db := filepath.Join(t.TempDir(), "temporal.db")
	port := freePort(t)
	start := func() *embedded.Server {
		srv, err := embedded.Start(context.Background(), embedded.Options{DBFile: db, GRPCPort: port, UIPort: -1, LogLevel: "fatal"})
		require.NoError(t, err)
		return srv
	}
	srv := start()
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second})
	e.up()
	_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	e.startWorker()

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupted", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := workflows.WorkflowID(e.stack)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		code, out, _ := e.rewind("status", id)
		assert.Equal(c, 0, code)
		assert.Contains(c, out, "(waiting for approval)")
	}, time.Minute, 200*time.Millisecond)

	srv.Stop()
	srv = start()
	defer srv.Stop()

	code, out, errOut = e.rewind("approve", id, "--as", "bob")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	c, err := sdkclient.Dial(sdkclient.Options{HostPort: srv.GRPCAddr()})
	require.NoError(t, err)
	defer c.Close()
	e.awaitRestored(c, id)
}
