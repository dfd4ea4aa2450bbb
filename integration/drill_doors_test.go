package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// A drill changes no stack, so its doors are narrow: Rewind's own Drill started under a
// forged ID restores nothing, and a stranger's workflow named Drill, under the stack's
// drill ID, is refused when it asks the host to start a database on the live volume or to
// remove it. The live data stays as it was; no drill leaves anything behind.
func TestDrillDoorsRefuseForgedRunsAndForeignSteps(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{stack: uniqueName("demo-")})
	e.up()
	e.goodBackup()
	e.startWorker()
	before := e.fingerprint()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	live := demostack.Volume(e.project)

	// Rewind's own workflow, under an ID that is no drill's.
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.WorkflowID(e.stack), TaskQueue: e.taskQueue}, api.DrillWorkflow, api.DrillRequest{Stack: e.stack})
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	requireType(t, err, failure.BadInput)
	require.ErrorContains(t, err, "a drill of stack "+e.stack+" runs as "+api.DrillWorkflowID(e.stack)+", not "+api.WorkflowID(e.stack)+"; nothing was restored or started")

	// A stranger's Drill, from a queue of its own, asking the host for steps on the live volume.
	queue := uniqueName("mallory-")
	w := sdkworker.New(c, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, step string) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: api.HostTaskQueue(e.taskQueue, e.host),
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		info := workflow.GetInfo(ctx).WorkflowExecution
		var in any = drill.DatabaseInput{Project: e.project, Run: info.ID + "/" + info.RunID, Volumes: []drill.Staged{{For: live, Staging: live}}, DatabaseURL: e.dbURL()}
		if step == "RemoveVolume" {
			in = volume.RemoveVolumeInput{Volume: live}
		}
		return workflow.ExecuteActivity(ctx, step, in).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: api.DrillWorkflow})
	require.NoError(t, w.Start())
	defer w.Stop()
	for _, step := range []string{"StartThrowaway", "RemoveVolume"} {
		run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.DrillWorkflowID(e.stack), TaskQueue: queue}, api.DrillWorkflow, step)
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		requireType(t, err, failure.NotAdmitted)
		require.ErrorContains(t, err, step+" refused")
	}
	require.Equal(t, before, e.fingerprint(), "the live data is as it was")
	require.Empty(t, drillLeftovers(t, s))
}
