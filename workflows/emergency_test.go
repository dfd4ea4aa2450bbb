package workflows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
)

func emergencyRequest() Request {
	return Request{
		Stack: "prod", Option: OptionEmergency, Severity: "P1", Reason: "memory leak", Requester: "alice",
		Target:    Target{Project: "algotrendy_v26", StopGrace: 30 * time.Second},
		HostQueue: HostTaskQueue("rewind", "docker-1"),
	}
}

func newEmergencyEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("prod")})
	env.RegisterWorkflow(Emergency)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&evidence.Activities{})
	env.RegisterActivity(&notify.Activities{})
	return env
}

func TestEmergencyStopsRemovesPrunesAndLeavesTheStackOffline(t *testing.T) {
	env := newEmergencyEnv(t)
	var d *docker.Activities
	var e *evidence.Activities
	var n *notify.Activities
	var order []string
	record := func(name string) { order = append(order, name) }

	env.OnActivity(d.CaptureState, mock.Anything, mock.MatchedBy(func(in docker.CaptureInput) bool {
		return in.Project == "algotrendy_v26" && strings.HasPrefix(in.Prefix, "incidents/") && strings.HasSuffix(in.Prefix, "/rewind-prod/checklist")
	})).Return(func(_ context.Context, _ docker.CaptureInput) (docker.CaptureResult, error) {
		record("capture")
		return docker.CaptureResult{Containers: []docker.Container{{Name: "api"}, {Name: "questdb"}}, Files: []string{"ps.txt"}}, nil
	}).Once()
	env.OnActivity(d.StopProject, mock.Anything, docker.StopInput{Project: "algotrendy_v26", Grace: 30 * time.Second}).
		Return(func(_ context.Context, _ docker.StopInput) (docker.StopResult, error) {
			record("stop")
			return docker.StopResult{Stopped: []string{"questdb"}, Killed: []string{"api"}}, nil
		}).Once()
	env.OnActivity(d.RemoveContainers, mock.Anything, docker.ProjectInput{Project: "algotrendy_v26"}).
		Return(func(_ context.Context, _ docker.ProjectInput) (docker.RemoveResult, error) {
			record("remove")
			return docker.RemoveResult{Removed: []string{"api", "questdb"}}, nil
		}).Once()
	env.OnActivity(d.PruneNetworks, mock.Anything, docker.ProjectInput{Project: "algotrendy_v26"}).
		Return(func(_ context.Context, _ docker.ProjectInput) (docker.RemoveResult, error) {
			record("prune")
			return docker.RemoveResult{Removed: []string{"algotrendy_v26_default"}}, nil
		}).Once()
	env.OnActivity(e.Note, mock.Anything, mock.MatchedBy(func(in evidence.NoteInput) bool {
		return strings.HasSuffix(in.Name, "/emergency_stop.log") && strings.Contains(in.Text, "EMERGENCY STOP executed at") &&
			strings.Contains(in.Text, "killed: api") && strings.Contains(in.Text, OfflineNotice)
	})).Return(func(_ context.Context, _ evidence.NoteInput) (string, error) {
		record("note")
		return "/evidence/emergency_stop.log", nil
	}).Once()
	env.OnActivity(n.Send, mock.Anything, mock.Anything).Return(func(_ context.Context, _ notify.Message) (notify.Result, error) {
		record("notify")
		return notify.Result{Delivered: []string{"worker log"}}, nil
	}).Once()

	env.ExecuteWorkflow(Emergency, emergencyRequest())

	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"capture", "stop", "remove", "prune", "note", "notify"}, order)
	require.Equal(t, "completed", res.Outcome)
	require.Equal(t, OfflineNotice, res.Notice)
	require.Equal(t, []string{"ps.txt", "/evidence/emergency_stop.log"}, res.Evidence)
	require.Len(t, res.Steps, 6)
	for _, s := range res.Steps {
		require.Equal(t, StateDone, s.State, s.Name)
	}
	require.Equal(t, "1 stopped, 1 killed, 0 already stopped", res.Steps[1].Detail)

	q, err := env.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, q.Get(&p))
	require.Equal(t, "completed", p.Phase)
	require.Contains(t, p.Markdown(), "- [x] Remove containers: 2 removed")
	env.AssertExpectations(t)
}

func TestEmergencyStopsAtAFailedStepAndShowsWhichOne(t *testing.T) {
	env := newEmergencyEnv(t)
	var d *docker.Activities
	env.OnActivity(d.CaptureState, mock.Anything, mock.Anything).Return(docker.CaptureResult{}, nil)
	env.OnActivity(d.StopProject, mock.Anything, mock.Anything).
		Return(docker.StopResult{}, temporal.NewNonRetryableApplicationError("engine refused", "Permission", errors.New("permission denied")))

	env.ExecuteWorkflow(Emergency, emergencyRequest())

	require.True(t, env.IsWorkflowCompleted())
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "stop containers (kill after grace period)")
	q, qerr := env.QueryWorkflow(ProgressQuery)
	require.NoError(t, qerr)
	var p Progress
	require.NoError(t, q.Get(&p))
	require.Equal(t, "failed", p.Phase)
	require.Equal(t, StateDone, p.Steps[0].State)
	require.Equal(t, StateFailed, p.Steps[1].State)
	require.Equal(t, StatePending, p.Steps[2].State, "nothing after the failed step runs")
}

func TestEmergencyRefusesARequestWithoutTarget(t *testing.T) {
	env := newEmergencyEnv(t)
	in := emergencyRequest()
	in.Target.Project = ""

	env.ExecuteWorkflow(Emergency, in)

	require.True(t, env.IsWorkflowCompleted())
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &appErr)
	require.Equal(t, docker.ErrBadInput, appErr.Type())
	require.True(t, appErr.NonRetryable())
}
