package runner

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/workflows/api"
)

// The drill's steps keep their names (recorded histories name them), clash with no other
// step on the host queue, and a Drill run is admitted for exactly them and the listing,
// download and notice it shares with rollbacks.
func TestTheDrillRegistersItsStepsAndNothingElse(t *testing.T) {
	steps := []string{"CheckThrowaway", "Drills", "RecordDrill", "RemoveDrill", "RestoreForDrill", "StartThrowaway"}
	require.Equal(t, steps, exported(&drill.Activities{}))
	for _, other := range []any{&docker.Activities{}, &volume.Activities{}, &evidence.Activities{}, &backup.Activities{}, &probe.Activities{}, &gitrepo.Activities{}} {
		for _, name := range exported(other) {
			require.False(t, slices.Contains(steps, name), "%s is registered twice on the host queue", name)
		}
	}
	for _, name := range steps {
		require.Contains(t, DrillSteps(), name)
	}
	require.Equal(t, len(steps)+3, len(DrillSteps()), "the drill's steps, ListBackups, DownloadBackup and Notify")
}

// Only a drill Schedule Rewind made for a stack the configuration no longer has is removed.
func TestOnlyRewindsDrillSchedulesOfRemovedStacksAreOrphans(t *testing.T) {
	cfg := &config.Config{Stacks: map[string]config.Stack{"prod": {}}}
	drillOf := func(id, note string) *client.ScheduleListEntry {
		e := &client.ScheduleListEntry{ID: id, Note: note}
		e.WorkflowType.Name = api.DrillWorkflow
		return e
	}
	require.True(t, orphanDrill(drillOf(api.DrillScheduleID("gone"), noteMark+"the newest backup of gone"), cfg))
	require.False(t, orphanDrill(drillOf(api.DrillScheduleID("prod"), noteMark+"the newest backup of prod"), cfg), "configured")
	require.False(t, orphanDrill(drillOf(api.DrillScheduleID("gone"), "someone else's"), cfg), "not Rewind's note")
	require.False(t, orphanDrill(drillOf("nightly-report", noteMark), cfg), "not a drill's ID")
	other := drillOf(api.DrillScheduleID("gone"), noteMark)
	other.WorkflowType.Name = "Report"
	require.False(t, orphanDrill(other, cfg), "not a drill's workflow")
}
