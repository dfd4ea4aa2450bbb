package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// guardEnv is a stack in a checkout (so the guard's quick rollback can go back to v2.5)
// whose guard samples every two seconds, and whose policy lists the guard.
func guardEnv(t *testing.T, s *suite, temporalAddr, guard string) *env {
	t.Helper()
	return guardEnvWith(t, s, temporalAddr, guard, stackOptions{})
}

// guardEnvWith is guardEnv with more of the env's options (keys, top-level YAML).
func guardEnvWith(t *testing.T, s *suite, temporalAddr, guard string, o stackOptions) *env {
	t.Helper()
	o.grace, o.repo, o.heartbeat, o.stack = 2*time.Second, true, 2*time.Second, uniqueName("demo-")
	o.stackYAML, o.approvers = "    guard: {"+guard+"}\n", []string{"{name: rewind-guard, role: on-call}"}
	e := newEnv(t, s, temporalAddr, o)
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
	return api.GuardWorkflowID(e.stack)
}

// awaitSamples waits until the guard has looked at the stack n times.
func (e *env) awaitSamples(c sdkclient.Client, id string, n int) {
	e.t.Helper()
	require.EventuallyWithT(e.t, func(ct *assert.CollectT) {
		assert.GreaterOrEqual(ct, history(e.t, c, id).completed["SampleAPI"], n)
	}, time.Minute, 200*time.Millisecond)
}

func guardResult(t testing.TB, c sdkclient.Client, id string) api.GuardResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res api.GuardResult
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

// shortWindows are criteria shaped like the runbook's, with windows a test sampling every
// 2 s can wait out: 500s for 6 s (four samples in a row), slow for 4 s (three).
const shortWindows = "criteria: [" +
	"{measure: error_ratio, above: 0.8, class: critical, for: 6s}, " +
	"{measure: memory_growth, above: 10, class: critical}, " +
	"{measure: latency_ratio, above: 1.5, class: major, for: 4s}, " +
	"{measure: error_ratio, above: 0, class: minor}]"

// awaitNotice waits until the guard's notices say want, and returns them.
func awaitNotice(t *testing.T, c sdkclient.Client, id, want string) string {
	t.Helper()
	var notices string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		notices = guardNotices(t, c, id)
		assert.Contains(ct, notices, want)
	}, time.Minute, 200*time.Millisecond)
	return notices
}

// TestGuardLetsABurstOf500sPass: the API answers 500s for about one sample (a dependency
// restarting) and behaves again; the guard records it as minor, its critical criterion
// counts "1 of 4 samples over the limit" and goes back to 0, and many samples later no
// rollback exists.
func TestGuardLetsABurstOf500sPass(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick, "+shortWindows)
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	e.misbehave("500s")
	awaitNotice(t, c, id, "minor at ") // the guard saw the 500s
	e.misbehave("ok")
	seen := history(t, c, id).completed["SampleAPI"]
	code, out, errOut := e.rewind("status", id)
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `critical: error_ratio above 80% for 6s \(running\): [0-9] of 4 samples over the limit`, out, "rewind status shows how far along its window the criterion is")

	e.awaitSamples(c, id, seen+6) // more than the window's four samples after the burst
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.ErrorAs(t, err, new(*serviceerror.NotFound), "a burst of 500s started no rollback")
	require.NotContains(t, guardNotices(t, c, id), "critical")
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage(), "the good version still runs")
}

// TestGuardRollsBackAnAPIThatTurnsTo500s: after a deploy the API answers 500s for longer
// than the criterion's window (6 s); then the guard starts a P1 quick rollback as itself,
// not before, which completes; the guard, which held meanwhile, ends with it, and the
// incident report shows the samples that led to it as a series.
func TestGuardRollsBackAnAPIThatTurnsTo500s(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick, "+shortWindows)
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	flipped := e.misbehave("500s")

	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "started a P1 quick rollback (rewind-"+e.stack+" run ")
	require.True(t, strings.HasSuffix(res.Outcome, "; the rollback completed"), res.Outcome)
	d, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.NoError(t, err)
	require.GreaterOrEqual(t, d.GetWorkflowExecutionInfo().GetStartTime().AsTime().Sub(flipped), 6*time.Second, "not before the 500s lasted their window")
	require.GreaterOrEqual(t, samplesAfter(t, c, id, flipped), 4)
	e.awaitCompleted(c, api.WorkflowID(e.stack))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage(), "rolled back to the version before")
	code, report, errOut := e.rewind("report", api.WorkflowID(e.stack))
	require.Equal(t, 0, code, errOut)
	report = strings.ReplaceAll(report, `\_`, "_") // Markdown escapes
	require.Contains(t, report, "- Requested by: rewind-guard at ")
	require.Contains(t, report, "guard of "+e.stack+" v2.6: error_ratio 100% over the limit of 80% (critical) for ")
	require.Regexp(t, `samples in a row from [0-9:]+ to [0-9:]+: 100%, 100%, 100%, 100%`, report, "the series that led to the decision")
	require.Contains(t, report, "guard-samples.json")

	code, out, errOut := e.rewind("status", id)
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, "(running)", "an ended guard shows each criterion's final state")
	require.Contains(t, out, "critical: error_ratio above 80% for 6s (failed): counted")
	recordHistory(t, c, id, "guard/v2-acted-once-held-until-its-rollback-completed.json")
}

// TestGuardProposesAFullRestoreAtP2: with guard.option full, 500s that last their window
// propose the full rollback at P2: it restores nothing on the guard's word and waits at
// the approval gate, the stack as it was.
func TestGuardProposesAFullRestoreAtP2(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: full, "+shortWindows)
	// Last night's backup: the one `rewind deployed` takes now is named for this second.
	_, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now().Add(-8*time.Hour))
	require.NoError(t, err)
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	e.misbehave("500s")

	notices := awaitNotice(t, c, id, "proposed a P2 full rollback (rewind-"+e.stack+" run ")
	require.Contains(t, notices, "restoring a backup over the stack's data is never automatic on the guard's word")
	rollback := api.WorkflowID(e.stack)
	e.awaitApprovalGate(rollback)
	d, err := c.DescribeWorkflowExecution(context.Background(), rollback, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus())
	var severity string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[api.SeverityKey.GetName()], &severity))
	require.Equal(t, "P2", severity, "a restore waits for an approver")
	require.Zero(t, history(t, c, rollback).scheduled["StopProject"], "nothing stopped before an approver decides")
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage(), "the stack runs as it was")
}

// TestGuardTellsALeakFromASpike: a spike of 128 MiB that is handed back is watched for
// six samples and nothing happens; a steady leak is then recognised and rolled back.
func TestGuardTellsALeakFromASpike(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick, "+shortWindows)
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)
	e.misbehave("spike")
	e.awaitSamples(c, id, 9)
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.ErrorAs(t, err, new(*serviceerror.NotFound), "a spike started no rollback")

	e.misbehave("leak")
	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "started a P1 quick rollback")
	require.Contains(t, res.Outcome, "memory_growth")
}

// TestGuardProposesAP2RollbackWhenTheAPISlowsDown: latency above 1.5 times the deploy's
// baseline for its window is major: the guard proposes a P2 rollback, which waits for an
// approver while the guard holds.
func TestGuardProposesAP2RollbackWhenTheAPISlowsDown(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick, baseline: 3, "+shortWindows)
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 3)
	e.misbehave("slow")

	notices := awaitNotice(t, c, id, "proposed a P2 quick rollback")
	require.Contains(t, notices, "latency_ratio")
	e.awaitApprovalGate(api.WorkflowID(e.stack))
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
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
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

// startGuardThroughTheSDK starts the stack's guard as anyone with access to the namespace
// can, without the CLI, and returns how it ended.
func (e *env) startGuardThroughTheSDK(c sdkclient.Client, req api.GuardRequest) error {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{
		ID: api.GuardWorkflowID(e.stack), TaskQueue: e.taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, "Guard", req)
	require.NoError(e.t, err)
	var res api.GuardResult
	if err := run.Get(ctx, &res); err != nil {
		return err
	}
	return fmt.Errorf("the guard ran: %s", res.Outcome)
}

// forgedState is what a caller makes up for a guard: a memory series, restarts counted
// from -10 (the first look sees ten, a major finding), a container down since an hour ago.
func forgedState() *api.GuardState {
	now := time.Now()
	st := &api.GuardState{Until: now.Add(time.Hour), Samples: 5, Started: true, Restarts0: -10, DownSince: now.Add(-time.Hour)}
	for i := range 5 {
		st.Memory = append(st.Memory, api.MemoryPoint{At: now.Add(time.Duration(i-5) * 2 * time.Second), Bytes: int64(i) << 20})
	}
	return st
}

// requireRefused asserts a guard ended with a non-retryable error of type kind saying want.
func requireRefused(t *testing.T, err error, kind, want string) {
	t.Helper()
	require.Error(t, err)
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	require.True(t, ok, "an application error: %v", err)
	require.Equal(t, kind, appErr.Type(), "%v", err)
	require.Contains(t, appErr.Error(), want)
}

// TestGuardStartedThroughTheSDKWithForgedStateStartsNothing: issue 21's second door. On a
// healthy stack, a guard started through the SDK (not the CLI) by mallory, who is in no
// policy, with a made-up state, then without one, and by alice, who is, with a made-up
// state: each is refused before it looks at the stack, and no rollback starts.
func TestGuardStartedThroughTheSDKWithForgedStateStartsNothing(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick")
	e.startWorker()
	id := api.GuardWorkflowID(e.stack)
	noRollback := func(t *testing.T) {
		t.Helper()
		require.Zero(t, history(t, c, id).scheduled["SampleContainers"], "the guard never looked at the stack")
		_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
		require.ErrorAs(t, err, new(*serviceerror.NotFound), "no rollback was started")
	}
	req := func(who string, st *api.GuardState) api.GuardRequest {
		return api.GuardRequest{Stack: e.stack, Requester: who, Version: "v2.6", RequestedAt: time.Now(), State: st}
	}

	t.Run("mallory with a forged state", func(t *testing.T) {
		err := e.startGuardThroughTheSDK(c, req("mallory", forgedState()))
		requireRefused(t, err, failure.BadInput, "a guard's state is its own")
		noRollback(t)
	})
	t.Run("mallory without a state", func(t *testing.T) {
		err := e.startGuardThroughTheSDK(c, req("mallory", nil))
		requireRefused(t, err, failure.NotAuthorized, "mallory is not in this worker's policy")
		noRollback(t)
	})
	t.Run("alice with a forged state", func(t *testing.T) {
		err := e.startGuardThroughTheSDK(c, req("alice", forgedState()))
		requireRefused(t, err, failure.BadInput, "a guard's state is its own")
		noRollback(t)
	})
	require.Equal(t, demostack.APIImage+":v2.6-prod", e.apiImage(), "the stack was not touched")
}

// guardNotices are the notices a running guard shows in its progress.
func guardNotices(t testing.TB, c sdkclient.Client, id string) string {
	t.Helper()
	v, err := c.QueryWorkflow(context.Background(), id, "", api.ProgressQuery)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	var lines []string
	for _, d := range p.Decisions {
		lines = append(lines, d.Reason)
	}
	return strings.Join(lines, "\n")
}

// TestGuardStopsOnlyForARollbackThatRuns: a rollback-started signal sent through the SDK
// with no rollback behind it is recorded and the guard keeps looking; a rollback started
// by hand with the CLI (which signals the guard) stops it, as the server shows it running.
func TestGuardStopsOnlyForARollbackThatRuns(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick")
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)

	signalled := time.Now()
	require.NoError(t, c.SignalWorkflow(context.Background(), id, "", api.RollbackStartedSignal, "mallory"))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.Contains(ct, guardNotices(t, c, id), `ignored a rollback-started signal from "mallory": no rollback rewind-`+e.stack+" exists; the guard goes on")
	}, time.Minute, 200*time.Millisecond)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		assert.GreaterOrEqual(ct, samplesAfter(t, c, id, signalled), 2, "the guard kept looking")
	}, time.Minute, 200*time.Millisecond)
	d, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, d.GetWorkflowExecutionInfo().GetStatus())

	code, out, errOut := e.rewind("start", "quick", "--stack", e.stack, "--severity", "P1", "--reason", "rolled back by hand", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "stopped: a rollback of "+e.stack+" is running (rewind-"+e.stack+" run ")
	require.Contains(t, res.Outcome, "by alice: rolled back by hand")
	recordHistory(t, c, id, "guard/v1-signal-ignored-then-stopped-by-hand.json")
	e.awaitCompleted(c, api.WorkflowID(e.stack))
}

// TestGuardStopsForAGroupRollbackThatHoldsItsStack: a rollback of a group that holds the
// stack, started with the CLI, stops the stack's guard once the group is admitted, before
// any stack of it is touched (a P2 group waits for its approver).
func TestGuardStopsForAGroupRollbackThatHoldsItsStack(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := guardEnv(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick")
	body, err := os.ReadFile(e.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(e.config, append(body, fmt.Sprintf("groups:\n  desks:\n    stacks: [%s]\n", e.stack)...), 0o600))
	e.startWorker()
	id := e.deployed()
	e.awaitSamples(c, id, 2)

	code, out, errOut := e.rewind("start", "quick", "--group", "desks", "--severity", "P2", "--reason", "every desk by hand", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	res := guardResult(t, c, id)
	require.Contains(t, res.Outcome, "stopped: a rollback of "+e.stack+" is running ("+api.GroupWorkflowID("desks")+" run ")
	_, err = c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.ErrorAs(t, err, new(*serviceerror.NotFound), "the group waits for its approver")
}

// TestAGuardStartIsSignedByAPersonWithKeys: starting a guard lets it start a P1 rollback,
// so alice, who has keys, signs her start of a guard as she signs a rollback's (whatever
// require_signatures says): unsigned it is refused, by the CLI and by the worker when sent
// through the SDK; signed with her key it is taken and the guard watches.
func TestAGuardStartIsSignedByAPersonWithKeys(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	alice, alicePub := sshKey(t, "alice")
	e := guardEnvWith(t, s, srv.GRPCAddr(), "interval: 2s, window: 5m, option: quick", stackOptions{keys: map[string]string{"alice": alicePub}})
	e.startWorker()
	id := api.GuardWorkflowID(e.stack)

	code, out, errOut := e.rewind("deployed", "--stack", e.stack, "--version", "v2.6", "--as", "alice")
	require.NotEqual(t, 0, code, "an unsigned start is refused by the CLI: %s", out)
	require.Contains(t, errOut, "alice has keys")
	err := e.startGuardThroughTheSDK(c, api.GuardRequest{Stack: e.stack, Requester: "alice", Version: "v2.6", RequestedAt: time.Now()})
	requireRefused(t, err, failure.NotAuthorized, "alice has keys: sign with ssh-agent or --key")
	require.Zero(t, history(t, c, id).scheduled["SampleContainers"], "the unsigned guard never looked at the stack")

	code, out, errOut = e.rewind("deployed", "--stack", e.stack, "--version", "v2.6", "--as", "alice", "--key", alice)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	e.awaitSamples(c, id, 2)
}
