package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestAStackWhoseHostHasNoWorker: the stack lives on a host where no worker runs. The CLI
// refuses to start its rollback, naming the host's queue; a rollback started anyway (here
// through the SDK) fails within worker.schedule_to_start with the same words instead of
// waiting forever, and people are told by a worker elsewhere.
func TestAStackWhoseHostHasNoWorker(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	hook := startWebhook(t)
	host := uniqueName("nowhere-")
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{stackHost: host, scheduleToStart: 2 * time.Second, webhook: hook.url})
	e.startWorker("REWIND_TEST_WEBHOOK=" + hook.url) // polls the rollback queue and its own host's
	queue := e.taskQueue + "@" + host

	code, out, errOut := e.rewind("start", "emergency", "--stack", e.stack, "--severity", "P1", "--reason", "host down", "--as", "alice")
	require.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "no worker is polling "+queue+" (the Docker steps of stack "+e.stack+" on "+host+")")
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.Error(t, err, "nothing was started")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := api.Request{Stack: e.stack, Option: api.OptionEmergency, Severity: "P1", Reason: "host down", Requester: "alice", RequestedAt: time.Now()}
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: api.WorkflowID(e.stack), TaskQueue: e.taskQueue}, "Emergency", req)
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	requireType(t, err, failure.NoWorker)
	require.ErrorContains(t, err, "no worker is polling "+queue)
	failed := hook.event(t, notify.KindFailed)
	require.Contains(t, failed.Detail, "no worker is polling "+queue, "people hear of it from a worker elsewhere")
}
