package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestTheChecklistRefusesAStepItDoesNotList: a step runs only as a line people see; one
// its table does not list is an error, not a line added on the quiet.
func TestTheChecklistRefusesAStepItDoesNotList(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.ExecuteWorkflow(func(ctx workflow.Context) ([]api.Step, error) {
		track, err := newTracker(ctx, "test", stepStop)
		if err != nil {
			return nil, err
		}
		if err := track.start(stepStop); err != nil {
			return nil, err
		}
		if err := track.start("Reboot the host"); err != nil {
			return track.progress.Steps, err
		}
		return track.progress.Steps, nil
	})
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Equal(t, failure.UnknownStep, errorType(t, err))
	require.ErrorContains(t, err, `the checklist has no step "Reboot the host"`)
}

// TestEachOptionsChecklistIsItsTable: what `rewind plan` shows is what the workflow lists
// as it starts, in the runbook's order.
func TestEachOptionsChecklistIsItsTable(t *testing.T) {
	for option, first := range map[string]string{api.OptionQuick: stepChecklist, api.OptionFull: stepChecklist, api.OptionGit: stepChecklist, api.OptionEmergency: stepStopNow} {
		t.Run(option, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			name, _ := api.WorkflowName(option)
			r.ExecuteWorkflow(name, request(option, "P1", "alice"))
			require.NoError(t, r.GetWorkflowError())
			var lines []string
			for _, s := range r.progress().Steps {
				lines = append(lines, s.Name)
			}
			require.Equal(t, api.Steps(option), lines)
			require.Equal(t, first, lines[0])
		})
	}
}
