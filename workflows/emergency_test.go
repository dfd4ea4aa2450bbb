package workflows

import (
	"errors"
	"testing"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
)

func TestEmergencyStopsFirstAndLeavesTheStackOffline(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.ExecuteWorkflow(Emergency, request(api.OptionEmergency, "P1", "alice"))
	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Less(t, r.index("stop"), r.index("remove containers"))
	require.Equal(t, []string{"remove containers", "prune", "note emergency_stop.log", "notify emergency-stop", "notify finished"}, r.calls[r.index("remove containers"):])
	require.Equal(t, api.OfflineNotice, res.Notice)
	p := r.progress()
	require.Equal(t, "completed", p.Phase)
	require.Contains(t, p.Markdown(), "- [x] Remove the containers: 1 removed")
}

func TestEmergencyStopsEvenWhenNoEvidenceCanBeCaptured(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["capture"] = errors.New("logging driver none: configured logging driver does not support reading")
	r.ExecuteWorkflow(Emergency, request(api.OptionEmergency, "P1", "alice"))
	require.NoError(t, r.GetWorkflowError())
	require.True(t, r.ran("remove containers"))
	for _, s := range r.progress().Steps {
		if s.Name == stepCapture {
			require.Equal(t, api.StateDone, s.State)
			require.Contains(t, s.Detail, "missing: ")
		}
	}
}

func TestEmergencyNeedsTheOnCallRole(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.ExecuteWorkflow(Emergency, request(api.OptionEmergency, "P3", "mallory"))
	require.Equal(t, failure.NotAuthorized, errorType(t, r.GetWorkflowError()))
	require.Empty(t, r.calls)
}

func TestEmergencyStopsAtAFailedStepAndShowsWhichOne(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["stop"] = temporal.NewNonRetryableApplicationError("engine refused", "EngineRefused", nil)
	r.ExecuteWorkflow(Emergency, request(api.OptionEmergency, "P1", "alice"))
	err := r.GetWorkflowError()
	require.ErrorContains(t, err, "stop containers (kill after grace period): engine refused; nothing was changed")
	p := r.progress()
	require.Equal(t, "failed", p.Phase)
	require.Equal(t, api.StateFailed, p.Steps[0].State)
	require.False(t, r.ran("remove containers"), "nothing after the failed step runs")
}
