package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

// The doors beside the gate, tried as someone with write access to the namespace would:
// activities started alone (on a server that still allows them), and a workflow of the
// caller's own, named like Rewind's and under a rollback's ID, scheduling a host step on
// Rewind's host queue from another task queue. The worker refuses each; the command the
// caller wrote never runs.
func TestSideDoorsRunNothing(t *testing.T) {
	s := needDocker(t)
	srv, err := embedded.Start(context.Background(), embedded.Options{LogLevel: "fatal", UIPort: -1, StandaloneActivities: true})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	c := dial(t, srv.GRPCAddr())
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{})
	e.startWorker()
	hostQueue := api.HostTaskQueue(e.taskQueue, e.host)
	marker := filepath.Join(t.TempDir(), "owned")
	evil := docker.ComposeUpInput{Project: e.project, Files: []string{e.composeFile}, WorkingDir: filepath.Dir(e.composeFile),
		Command: []string{"sh", "-c", "touch " + marker + `; exec docker-compose "$@"`, "sh"}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("a host step started alone", func(t *testing.T) {
		h, err := c.ExecuteActivity(ctx, sdkclient.StartActivityOptions{ID: "mallory-compose-up", TaskQueue: hostQueue, StartToCloseTimeout: time.Minute},
			"ComposeUp", evil)
		require.NoError(t, err, "this server allows standalone activities")
		err = h.Get(ctx, nil)
		requireType(t, err, failure.NotAdmitted)
		require.ErrorContains(t, err, "started alone, not by a Rewind rollback")
		require.NoFileExists(t, marker, "the caller's command never ran")
	})

	t.Run("the guard's signer started alone", func(t *testing.T) {
		st := identity.Statement{WorkflowID: api.WorkflowID(e.stack), Person: "rewind-guard", Action: "start quick", Severity: "P1",
			Expires: time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)}
		h, err := c.ExecuteActivity(ctx, sdkclient.StartActivityOptions{ID: "mallory-sign", TaskQueue: e.taskQueue, StartToCloseTimeout: time.Minute},
			"SignAsGuard", st)
		require.NoError(t, err)
		var sig string
		err = h.Get(ctx, &sig)
		requireType(t, err, failure.NotAdmitted)
		require.Empty(t, sig, "nothing was signed")
	})

	t.Run("a workflow of the caller's own on another queue", func(t *testing.T) {
		// Named Full and run under the rollback's own ID: only where its code runs (the
		// caller's task queue, as the server records it) tells it from Rewind's.
		queue := uniqueName("mallory-")
		w := sdkworker.New(c, queue, sdkworker.Options{})
		w.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: hostQueue, StartToCloseTimeout: time.Minute,
				RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
			return workflow.ExecuteActivity(ctx, "ComposeUp", evil).Get(ctx, nil)
		}, workflow.RegisterOptions{Name: "Full"})
		require.NoError(t, w.Start())
		defer w.Stop()
		run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.WorkflowID(e.stack), TaskQueue: queue}, "Full")
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		requireType(t, err, failure.NotAdmitted)
		require.ErrorContains(t, err, "runs on task queue "+`"`+queue+`"`)
		require.NoFileExists(t, marker, "the caller's command never ran")
	})
}

// Where Rewind runs Temporal, activities cannot be started alone at all.
func TestDevserverRefusesStandaloneActivities(t *testing.T) {
	_, c := startTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.ExecuteActivity(ctx, sdkclient.StartActivityOptions{ID: "mallory-stop", TaskQueue: "rewind@demo-host", StartToCloseTimeout: time.Minute},
		"StopProject", docker.StopInput{Project: "algotrendy"})
	require.Error(t, err, "the embedded server turns standalone activities off")
	require.Contains(t, err.Error(), "tandalone")
}

// A worker of the caller's own polling Rewind's own task queue runs its code under Rewind's
// workflow type and ID: the server then says the right queue. What it cannot write is
// what a rollback's callers sent: a start alice signed, an approval. So the stack's steps
// stay refused until the run's admission holds as the worker reads it from those.
func TestAWorkerOfAnyonesOnRewindsQueueChangesNothing(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	_, alicePub := sshKey(t, "alice")
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{keys: map[string]string{"alice": alicePub}})
	e.up()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The caller's worker takes the workflow task first: no Rewind worker polls yet.
	w := sdkworker.New(c, e.taskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, _ api.Request) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{TaskQueue: api.HostTaskQueue(e.taskQueue, e.host),
			StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
		return workflow.ExecuteActivity(ctx, "StopProject", docker.StopInput{Project: e.project}).Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "Full"})
	require.NoError(t, w.Start())
	defer w.Stop()
	req := api.Request{Stack: e.stack, Option: api.OptionFull, Severity: "P1", Reason: "mallory as alice", Requester: "alice", RequestedAt: time.Now()}
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.WorkflowID(e.stack), TaskQueue: e.taskQueue}, "Full", req)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return history(t, c, run.GetID()).scheduled["StopProject"] == 1 }, time.Minute, 50*time.Millisecond)

	e.startWorker()
	var failure string
	require.Eventually(t, func() bool {
		failure = activityFailure(t, c, run.GetID(), "StopProject")
		return failure != ""
	}, time.Minute, 100*time.Millisecond)
	require.Contains(t, failure, "the admission of "+run.GetID())
	require.Contains(t, failure, "alice must sign a start, and this one is not signed")
	require.NoError(t, demostack.WaitHealthy(ctx, s.engine, e.project), "the stack still runs")
}

// activityFailure is the message of the last failed attempt of an activity type in a
// workflow's history, or "".
func activityFailure(t testing.TB, c sdkclient.Client, id, activityType string) string {
	t.Helper()
	msg := ""
	eachActivityEvent(t, c, id, func(typ string, ev *historypb.HistoryEvent) {
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil && typ == activityType {
			msg = a.GetFailure().GetMessage()
		}
	})
	return msg
}
