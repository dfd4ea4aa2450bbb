package admission

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/failure"
)

// A backup is admitted at P1 without approval, so its run may only hold, copy and release:
// a restore, a removal or a deploy scheduled under its ID is refused before anything else
// is asked.
func TestABackupRunsOnlyItsOwnSteps(t *testing.T) {
	g := &Gate{Workflows: map[string]IDScheme{"Backup": {Prefix: "rewind-", Suffix: "-backup", Changes: true, Steps: []string{"HoldWrites", "BackupVolume", "ReleaseWrites"}}}}
	for _, step := range []string{"RemoveVolume", "RestoreVolume", "ComposeUp", "StopProject"} {
		info := activity.Info{
			ActivityType:      activity.Type{Name: step},
			WorkflowType:      &workflow.Type{Name: "Backup"},
			WorkflowExecution: workflow.Execution{ID: "rewind-prod-backup", RunID: "run"},
		}
		err := g.admit(context.Background(), info, nil)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr, step)
		require.Equal(t, failure.NotAdmitted, appErr.Type(), step)
		require.ErrorContains(t, err, "a Backup workflow runs only HoldWrites, BackupVolume, ReleaseWrites", step)
	}
}
