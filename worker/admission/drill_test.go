package admission

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// A drill restores into volumes of its own run and starts its database on them: it may
// name the stack's volumes (to find what to copy), never mount, fill or remove them.
func TestADrillTouchesOnlyWhatItMadeForItself(t *testing.T) {
	r := prodReach()
	r.WorkflowID = "rewind-prod-drill-2026-12-03T16:00:00Z"
	t0 := r.Target
	run := r.WorkflowID + "/" + r.RunID
	live := t0.Volumes[0].Name
	mine := drill.Name(r.RunID, live)
	restore := drill.RestoreInput{Staging: mine, For: live, Project: t0.Project, Run: run, Backup: "/var/backups/algotrendy/questdb_backup_20261203_141500.tar.gz"}
	start := drill.DatabaseInput{Project: t0.Project, Run: run, Volumes: []drill.Staged{{For: live, Staging: mine}}, DatabaseURL: t0.Checks.DatabaseURL}
	check := drill.CheckInput{Run: run, DatabaseURL: t0.Checks.DatabaseURL, Query: t0.Checks.DataQuery, Timeout: t0.Checks.HealthTimeout}
	with := func(f func(*drill.RestoreInput)) drill.RestoreInput { in := restore; f(&in); return in }
	tests := []struct {
		name     string
		workflow string
		in       any
		want     string
	}{
		{"the drill restores into its own volume", r.WorkflowID, restore, ""},
		{"a drill started by hand restores too", api.DrillWorkflowID("prod"), with(func(in *drill.RestoreInput) { in.Run = api.DrillWorkflowID("prod") + "/" + r.RunID }), ""},
		{"a restore into the live volume", r.WorkflowID, with(func(in *drill.RestoreInput) { in.Staging = live }), "volume"},
		{"a restore into another run's volume", r.WorkflowID, with(func(in *drill.RestoreInput) { in.Staging = drill.Name("ffffffff-0000", live) }), "volume"},
		{"a restore of a file from elsewhere", r.WorkflowID, with(func(in *drill.RestoreInput) { in.Backup = "/etc/shadow" }), "file"},
		{"a rollback restores for a drill", "rewind-prod", restore, "not a drill of stack prod"},
		{"the database starts on the drill's volume", r.WorkflowID, start, ""},
		{"the database starts on the live volume", r.WorkflowID, drill.DatabaseInput{Project: t0.Project, Run: run, Volumes: []drill.Staged{{For: live, Staging: live}}, DatabaseURL: t0.Checks.DatabaseURL}, "volume"},
		{"the database of another project", r.WorkflowID, drill.DatabaseInput{Project: "billing", Run: run, Volumes: start.Volumes, DatabaseURL: t0.Checks.DatabaseURL}, "compose project"},
		{"the stack's check", r.WorkflowID, check, ""},
		{"a check of a caller's URL", r.WorkflowID, drill.CheckInput{Run: run, DatabaseURL: "http://169.254.169.254/", Query: check.Query, Timeout: check.Timeout}, "database"},
		{"a check with a caller's query", r.WorkflowID, drill.CheckInput{Run: run, DatabaseURL: check.DatabaseURL, Query: "DROP TABLE trades", Timeout: check.Timeout}, "query"},
		{"a record of this run", r.WorkflowID, drill.RecordInput{Stack: "prod", Drill: backups.Drill{Name: "x.tar.gz", By: run, At: time.Now()}}, ""},
		{"a record signed as another run", r.WorkflowID, drill.RecordInput{Stack: "prod", Drill: backups.Drill{Name: "x.tar.gz", By: "rewind-prod/other"}}, "run"},
		{"a removal of another run's", r.WorkflowID, drill.CleanupInput{Run: "rewind-prod/other"}, "run"},
		{"a removal of this run's and the project's leftovers", r.WorkflowID, drill.CleanupInput{Run: run, Project: t0.Project}, ""},
		{"a sweep of another project's", r.WorkflowID, drill.CleanupInput{Run: run, Project: "billing"}, "compose project"},
		{"a rollback reads the drills", "rewind-prod", drill.StackInput{Stack: "prod"}, ""},
		{"the drills of another stack", "rewind-prod", drill.StackInput{Stack: "billing"}, "stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := r
			rr.WorkflowID = tt.workflow
			judged(t, tt.in, within(tt.in, []Reach{rr}), tt.want)
		})
	}
}

// A Drill run is no rollback: a step that changes a stack, or any step but its own, is
// refused under its ID, and so is a Drill-type workflow whose ID names no drill.
func TestADrillRunsOnlyItsOwnSteps(t *testing.T) {
	g := &Gate{Workflows: map[string]IDScheme{"Drill": {Parse: api.DrillStack, Steps: []string{"RestoreForDrill", "StartThrowaway", "CheckThrowaway", "RemoveDrill"}}}}
	for _, tt := range []struct{ id, step, want string }{
		{"rewind-prod-drill", "RemoveVolume", "a Drill workflow runs only RestoreForDrill, StartThrowaway, CheckThrowaway, RemoveDrill"},
		{"rewind-prod-drill", "RestoreVolume", "a Drill workflow runs only"},
		{"rewind-prod-drill-2026-12-03T16:00:00Z", "ComposeUp", "a Drill workflow runs only"},
		{"rewind-prod", "RestoreForDrill", "does not name a stack the way Rewind's do"},
		{"rewind-prod-drill-tomorrow", "StartThrowaway", "does not name a stack the way Rewind's do"},
	} {
		info := activity.Info{
			ActivityType:      activity.Type{Name: tt.step},
			WorkflowType:      &workflow.Type{Name: "Drill"},
			WorkflowExecution: workflow.Execution{ID: tt.id, RunID: "run"},
		}
		err := g.admit(context.Background(), info, nil)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr, tt.step)
		require.Equal(t, failure.NotAdmitted, appErr.Type(), tt.step)
		require.ErrorContains(t, err, tt.want, tt.id+" "+tt.step)
	}
}
