package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/workflows/api"
)

var emergencyActivities = map[string]int{"StopProject": 1, "CaptureState": 1, "RemoveContainers": 1, "PruneNetworks": 1, "Note": 1, "Notify": 2}

func TestEmergencyStopThroughTheCLI(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second})
	e.up()
	require.Len(t, e.containers(), 2)
	e.startWorker()

	code, out, errOut := e.rewind("start", "emergency", "--stack", e.stack, "--severity", "P1", "--reason", "memory leak", "--as", "alice", "--wait")

	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "emergency rollback of demo: completed")
	require.Contains(t, out, "NOTICE: offline — investigate before restart")
	require.Empty(t, e.containers(), "every container of the project is gone")
	require.Empty(t, e.networks(), "the project's networks are pruned")

	id := api.WorkflowID(e.stack)
	desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	var summary string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(desc.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary))
	require.Equal(t, "emergency rollback of demo, P1, by alice", summary, "the Web UI shows a summary")

	runs := history(t, c, id)
	for a, n := range emergencyActivities {
		require.Equal(t, n, runs.scheduled[a], "%s scheduled", a)
		require.Equal(t, n, runs.completed[a], "%s completed", a)
		require.Equal(t, 1, runs.attempt[a], "%s ran on its first attempt", a)
	}

	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	for _, f := range []string{"checklist/deployment_state.txt", "checklist/deployment_logs.txt", "checklist/resource_usage.json", "emergency_stop.log"} {
		matches, err := filepath.Glob(filepath.Join(e.evidence, "incidents", "*", id, run, f))
		require.NoError(t, err)
		require.Len(t, matches, 1, f)
	}
	logs, err := filepath.Glob(filepath.Join(e.evidence, "incidents", "*", id, run, "checklist/deployment_logs.txt"))
	require.NoError(t, err)
	body, err := os.ReadFile(logs[0])
	require.NoError(t, err)
	require.Contains(t, string(body), "Connected to Binance", "the api's logs were captured before the containers went")

	code, out, errOut = e.rewind("status", id, "--json")
	require.Equal(t, 0, code, errOut)
	var status struct {
		Status   string
		Progress api.Progress
	}
	require.NoError(t, json.Unmarshal([]byte(out), &status))
	require.Equal(t, "completed", status.Status)
	require.Equal(t, api.OfflineNotice, status.Progress.Notice)
	require.Len(t, status.Progress.Steps, 6)

	resp, err := http.Get("http://" + srv.UIAddr() + "/api/v1/namespaces/default/workflows")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var ui struct {
		Executions []struct {
			Execution struct{ WorkflowID string }
			Status    string
		}
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ui))
	require.Len(t, ui.Executions, 1)
	require.Equal(t, id, ui.Executions[0].Execution.WorkflowID, "the Web UI's API lists the rollback")
	require.Equal(t, "WORKFLOW_EXECUTION_STATUS_COMPLETED", ui.Executions[0].Status)
	recordHistory(t, c, id, "emergency.json")
}

func TestEmergencyStopSurvivesAWorkerKilledMidStep(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	// The api ignores SIGTERM, so the stop step waits out the grace period: time to crash.
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 15 * time.Second})
	e.up("IGNORE_SIGTERM=1")
	first := e.startWorker()

	code, out, errOut := e.rewind("start", "emergency", "--stack", e.stack, "--severity", "P1", "--reason", "host unstable", "--as", "alice")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	id := api.WorkflowID(e.stack)

	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		desc, err := c.DescribeWorkflowExecution(context.Background(), id, "")
		if !assert.NoError(ct, err) {
			return
		}
		var stopping bool
		for _, p := range desc.GetPendingActivities() {
			stopping = stopping || (p.GetActivityType().GetName() == "StopProject" &&
				p.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED && p.GetHeartbeatDetails() != nil)
		}
		assert.True(ct, stopping, "StopProject is running and has heartbeated")
	}, time.Minute, 100*time.Millisecond)
	first.kill(t)
	e.startWorker()

	var result api.Result
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, c.GetWorkflow(ctx, id, "").Get(ctx, &result))
	require.Equal(t, "completed", result.Outcome)
	require.Empty(t, e.containers())

	runs := history(t, c, id)
	for a, n := range emergencyActivities {
		require.Equal(t, n, runs.scheduled[a], "%s scheduled", a)
		require.Equal(t, n, runs.completed[a], "%s completed", a)
	}
	require.GreaterOrEqual(t, runs.attempt["StopProject"], 2, "the interrupted step was retried by the new worker")
}

func TestBadInputStartsNothing(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: time.Second})

	code, _, errOut := e.rewind("start", "emergency", "--stack", "nosuch", "--severity", "P1", "--reason", "r", "--as", "alice")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `unknown stack "nosuch"; known stacks: demo`)

	bad := filepath.Join(e.dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`temporal: {address: `+srv.GRPCAddr()+`, task_queue: ""}
stacks:
  demo: {compose_files: []}
approvers:
  - {name: eve, role: boss}
`), 0o600))
	code, _, errOut = e.rewind("--config", bad, "start", "emergency", "--stack", "demo", "--severity", "P1", "--reason", "r", "--as", "alice")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "3 problem(s) in the configuration")
	for _, key := range []string{"temporal.task_queue", "stacks.demo.compose_files", "approvers[0].role"} {
		require.Contains(t, errOut, key)
	}

	list, err := c.ListWorkflow(context.Background(), listAll())
	require.NoError(t, err)
	require.Empty(t, list.GetExecutions(), "no workflow was started")
}

func TestSecondRollbackOfARunningStackIsRefused(t *testing.T) {
	s := needDocker(t)
	srv, _ := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: time.Second})
	require.NoError(t, os.MkdirAll(e.backups, 0o755))
	e.up()
	e.goodBackup()
	e.startWorker()
	// A P2 waits for its approver, so the first rollback stays open.
	code, _, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "first", "--as", "alice")
	require.Equal(t, 0, code, errOut)
	e.awaitApprovalGate(api.WorkflowID(e.stack))

	code, _, errOut = e.rewind("start", "emergency", "--stack", e.stack, "--severity", "P1", "--reason", "second", "--as", "alice")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "stack demo already has a rollback running: rewind-demo")
	require.Contains(t, errOut, "the full rollback started ")
}
