package integration

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// A backup's hold pauses the stack's database: a stranger's workflow, named Backup and run
// under the stack's backup ID from a task queue of its own, asks the host for it and is
// refused; the database is never paused.
func TestAStrangersWorkflowCannotHoldTheDatabase(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{})
	e.up()
	e.startWorker()
	db, err := demostack.DatabaseContainer(context.Background(), s.engine, e.project)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	queue := uniqueName("mallory-")
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: api.HostTaskQueue(e.taskQueue, e.host),
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		hold := docker.HoldInput{Project: e.project, Mode: "pause", Volumes: []string{demostack.Volume(e.project)}, Grace: 30 * time.Second, Containers: []string{db}}
		return workflow.ExecuteActivity(ctx, "HoldWrites", hold).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: api.BackupWorkflow})
	require.NoError(t, w.Start())
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.BackupWorkflowID(e.stack), TaskQueue: queue}, api.BackupWorkflow)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	requireType(t, err, failure.NotAdmitted)
	require.ErrorContains(t, err, "runs on task queue "+`"`+queue+`"`)
	info, err := s.engine.ContainerInspect(ctx, db, client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.False(t, info.Container.State.Paused, "the database was never paused")
}
