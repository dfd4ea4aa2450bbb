package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows"
)

// guardEnv is a stack in a checkout (so the guard's quick rollback can go back to v2.5)
// whose guard samples every two seconds, and whose policy lists the guard.
func guardEnv(t *testing.T, s *suite, temporalAddr, guard string) *env {
	t.Helper()
	e := newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, repo: true, heartbeat: 2 * time.Second, stack: uniqueName("demo-"),
		stackYAML: "    guard: {" + guard + "}\n", approvers: []string{"{name: rewind-guard, role: on-call}"}})
	_, err := s.engine.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: demostack.APIImage + ":v2.5"})
	require.NoError(t, err)
	e.up()
	return e
}

// misbehave switches the demo API into a failure mode.
func (e *env) misbehave(mode string) time.Time {
	e.t.Helper()
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/admin/misbehave?mode=%s", e.apiPort, mode), "", nil)
	require.NoError(e.t, err)
	resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	return time.Now()
}

// deployed starts the guard as a deploy script would and returns its workflow ID.
func (e *env) deployed(args ...string) string {
	e.t.Helper()
	code, out, errOut := e.rewind(append([]string{"deployed", "--stack", e.stack, "--version", "v2.6", "--as", "alice"}, args...)...)
	require.Equal(e.t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	return workflows.GuardWorkflowID(e.stack)
}

// awaitSamples waits until the guard has looked at the stack n times.
func (e *env) awaitSamples(c sdkclient.Client, id string, n int) {
	e.t.Helper()
	require.EventuallyWithT(e.t, func(ct *assert.CollectT) {
		assert.GreaterOrEqual(ct, history(e.t, c, id).completed["SampleAPI"], n)
	}, time.Minute, 200*time.Millisecond)
}

func guardResult(t testing.TB, c sdkclient.Client, id string) workflows.GuardResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.GuardResult
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &res))
	return res
}

// samplesAfter counts the looks at the API a guard scheduled after at.
func samplesAfter(t testing.TB, c sdkclient.Client, id string, at time.Time) int {
	t.Helper()
	n := 0
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "SampleAPI" && ev.GetEventTime().AsTime().After(at) {
			n++
		}
	}
	return n
}

// TestGuardRollsBackAnAPIThatTurnsTo500s: after a deploy the API starts answering 500s;
// within two samples the guard starts a P1 quick rollback as itself, which completes, and
// the incident report names the criterion.
func TestGuardRollsBackAnAPIThatTurnsTo500s(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick")
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	flipped := e.misbehave("500s")

	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "started a P1 quick rollback (rewind-"+e.stack+" run ")
	require.LessOrEqual(t, samplesAfter(t, c, id, flipped), 2, "acted within two sampling intervals")
	e.awaitCompleted(c, workflows.WorkflowID(e.stack))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "rolled back to the version before")
	code, report, errOut := e.rewind("report", workflows.WorkflowID(e.stack))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, "- Requested by: rewind-guard at ")
	require.Contains(t, report, "guard of "+e.stack+" v2.6: error_ratio 100% over the limit of 80% (critical) at ")
	require.Contains(t, report, "guard-samples.json")
}

// TestGuardTellsALeakFromASpike: a spike of 128 MiB that is handed back is watched for
// six samples and nothing happens; a steady leak is then recognised and rolled back.
func TestGuardTellsALeakFromASpike(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick")
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	e.misbehave("spike")
	e.awaitSamples(c, id, 9)
	_, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(e.stack), "")
	require.ErrorAs(t, err, new(*serviceerror.NotFound), "a spike started no rollback")

	e.misbehave("leak")
	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "started a P1 quick rollback")
	require.Contains(t, res.Outcome, "memory_growth")
}

// TestGuardProposesAP2RollbackWhenTheAPISlowsDown: latency above 1.5 times the deploy's
// baseline is major: the guard proposes a P2 rollback, which waits for an approver.
func TestGuardProposesAP2RollbackWhenTheAPISlowsDown(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick, baseline: 3")
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 3)
	e.misbehave("slow")

	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "proposed a P2 quick rollback")
	require.Contains(t, res.Outcome, "latency_ratio")
	e.awaitApprovalGate(workflows.WorkflowID(e.stack))
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage(), "nothing changes before an approver decides")
}

// TestGuardOfAHealthyDeployEndsQuietlyThroughAWorkerCrash: nothing is wrong; the worker is
// killed mid-window and started again; the guard goes on without a gap longer than an
// interval plus the restart and the time Temporal takes to notice, and ends quietly.
func TestGuardOfAHealthyDeployEndsQuietlyThroughAWorkerCrash(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 40s")
	w := e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 3)
	killed := time.Now()
	w.kill(t)
	e.startWorker()
	restart := time.Since(killed)

	res := guardResult(t, c, id)
	require.True(t, strings.HasPrefix(res.Outcome, "quiet: "), res.Outcome)
	_, err := c.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(e.stack), "")
	require.ErrorAs(t, err, new(*serviceerror.NotFound), "no rollback was started")

	widest := widestGap(t, c, id)
	// One interval and the restart, which counts until Temporal has noticed the dead
	// worker: the heartbeat timeout of a look cut short (2 s) and the sticky queue's
	// timeout after which its workflow tasks go to the other workers (5 s).
	bound := 2*time.Second + restart + 2*time.Second + 5*time.Second
	t.Logf("widest gap between samples: %s (restart took %s; bound %s)", widest, restart, bound)
	require.LessOrEqual(t, widest, bound)
}

// TestGuardKeepsSamplingThroughATemporalRestart: Temporal stops and starts again on its
// file mid-window; the guard goes on from where it was and ends quietly.
func TestGuardKeepsSamplingThroughATemporalRestart(t *testing.T) {
	s := needDocker(t)
	start := fileTemporal(t)
	srv := start()
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 40s")
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(dial(t, srv.GRPCAddr()), id, 3)
	stopped := time.Now()
	srv.Stop()
	srv = start()
	defer srv.Stop()
	restart := time.Since(stopped)

	c := dial(t, srv.GRPCAddr())
	res := guardResult(t, c, id)
	require.True(t, strings.HasPrefix(res.Outcome, "quiet: "), res.Outcome)
	widest := widestGap(t, c, id)
	// One interval and the restart, which counts until the worker polls again (its
	// reconnect backs off up to a few seconds) and its look cut short times out (2 s).
	bound := 2*time.Second + restart + 5*time.Second + 2*time.Second
	t.Logf("widest gap between samples: %s (Temporal was down %s; bound %s)", widest, restart, bound)
	require.LessOrEqual(t, widest, bound)
}

// widestGap is the longest time between two looks of a guard at the API.
func widestGap(t testing.TB, c sdkclient.Client, id string) time.Duration {
	t.Helper()
	var widest time.Duration
	var prev time.Time
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "SampleAPI" {
			at := ev.GetEventTime().AsTime()
			if !prev.IsZero() {
				widest = max(widest, at.Sub(prev))
			}
			prev = at
		}
	}
	return widest
}
