package runner

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
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
