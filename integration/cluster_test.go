package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	pgschema "go.temporal.io/server/schema/postgresql/v12"

	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestFullRollbackOnAPostgresBackedTemporal runs Temporal as a production cluster keeps
// it: on Debian's PostgreSQL, its schema set up by the server's own SQL tooling, every
// service of the server in one process. The unchanged worker and CLI run a P2 full
// rollback on it that waits for approval through a restart of the server, loses its
// worker to a SIGKILL after the stop, and completes with the backup's data.
func TestFullRollbackOnAPostgresBackedTemporal(t *testing.T) {
	s := needDocker(t)
	pg := newPostgres(t, postgresBin(t), "temporal")
	dsn := strings.Replace(pg.url, "/postgres?", "/temporal?", 1)
	port := freePort(t)
	start := func() *embedded.Server {
		srv, err := embedded.Start(context.Background(), embedded.Options{Postgres: dsn, GRPCPort: port, UIPort: -1, LogLevel: "fatal"})
		require.NoError(t, err)
		return srv
	}
	srv := start()
	for db, want := range map[string]string{"temporal": pgschema.Version, "temporal_visibility": pgschema.VisibilityVersion} {
		row, err := probe.QueryRow(context.Background(), nil, strings.Replace(pg.url, "/postgres?", "/"+db+"?", 1), "SELECT curr_version FROM schema_version")
		require.NoError(t, err)
		require.Equal(t, want, probe.Row(row), "schema of %s", db)
	}
	c := dial(t, srv.GRPCAddr())
	ns, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())

	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second})
	e.up()
	_, err = demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	w := e.startWorker("REWIND_CRASH_AT=after:StopProject")

	code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "corrupted", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := api.WorkflowID(e.stack)
	e.awaitApprovalGate(id)

	srv.Stop()
	srv = start() // the schema is already there: set up again, it is left as it is
	defer srv.Stop()
	code, out, errOut = e.rewind("approve", id, "--as", "bob")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	w.crashed(t)
	e.startWorker()

	c = dial(t, srv.GRPCAddr())
	e.awaitRestored(c, id)
	runs := history(t, c, id)
	require.Zero(t, runs.stepsRunTwice(), "steps of the rollback ran again: %v", runs.scheduled)
	code, out, _ = e.rewind("list")
	require.Equal(t, 0, code)
	require.Contains(t, out, e.stack, "the rollback is listed through PostgreSQL visibility")
	s.report.add(chaosRow{scenario: "full on PostgreSQL-backed Temporal, server restarted at the gate, worker killed after the stop", outcome: "completed after approval", runTwice: runs.stepsRunTwice()})
}
