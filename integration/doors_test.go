package integration

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/devserver/embedded"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/worker/admission"
	"github.com/algotrendy/rewind/workflows"
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
	hostQueue := workflows.HostTaskQueue(e.taskQueue, e.host)
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
		requireType(t, err, admission.ErrNotAdmitted)
		require.ErrorContains(t, err, "started alone, not by a Rewind rollback")
		require.NoFileExists(t, marker, "the caller's command never ran")
	})

	t.Run("the guard's signer started alone", func(t *testing.T) {
		st := identity.Statement{WorkflowID: workflows.WorkflowID(e.stack), Person: "rewind-guard", Action: "start quick", Severity: "P1",
			Expires: time.Now().Add(5 * time.Minute).UTC().Truncate(time.Second)}
		h, err := c.ExecuteActivity(ctx, sdkclient.StartActivityOptions{ID: "mallory-sign", TaskQueue: e.taskQueue, StartToCloseTimeout: time.Minute},
			"SignAsGuard", st)
		require.NoError(t, err)
		var sig string
		err = h.Get(ctx, &sig)
		requireType(t, err, admission.ErrNotAdmitted)
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
		run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: workflows.WorkflowID(e.stack), TaskQueue: queue}, "Full")
		require.NoError(t, err)
		err = run.Get(ctx, nil)
		requireType(t, err, admission.ErrNotAdmitted)
		require.ErrorContains(t, err, "runs on task queue "+`"`+queue+`"`)
		require.NoFileExists(t, marker, "the caller's command never ran")
	})
}

// Where Rewind runs Temporal, activities cannot be started alone at all.
func TestDevserverRefusesStandaloneActivities(t *testing.T) {
	srv, c := startTemporal(t)
	_ = srv
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.ExecuteActivity(ctx, sdkclient.StartActivityOptions{ID: "mallory-stop", TaskQueue: "rewind@demo-host", StartToCloseTimeout: time.Minute},
		"StopProject", docker.StopInput{Project: "algotrendy"})
	require.Error(t, err, "the embedded server turns standalone activities off")
	require.Contains(t, err.Error(), "tandalone")
}
