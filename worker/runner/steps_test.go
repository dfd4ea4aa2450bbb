package runner

import (
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/volume"
)

// exported lists the methods RegisterActivity registers for a struct: every exported one.
func exported(v any) []string {
	t := reflect.TypeOf(v)
	var names []string
	for i := range t.NumMethod() {
		names = append(names, t.Method(i).Name)
	}
	return names
}

// TestTheHostRegistersTheStepsAndNothingElse: recorded histories name steps by these names,
// so none may change, and a helper or test hook exported by mistake would be registered
// as a step anyone could schedule.
func TestTheHostRegistersTheStepsAndNothingElse(t *testing.T) {
	project := []string{"BuildImage", "CaptureState", "CheckLogs", "CheckResources", "ComposeUp", "HoldTargets", "HoldWrites", "ProjectMounts",
		"PruneNetworks", "ReleaseWrites", "RemoveContainers", "RemoveImage", "SampleContainers", "StartProject", "StopProject", "WaitHealthy"}
	volumes := []string{"CheckRoom", "CopyVolume", "CreateVolume", "InspectVolume", "PlanSwap", "PrepareVolume", "PruneBackups",
		"RemoveStaging", "RemoveStaleStaging", "RemoveVolume", "RestoreVolume", "SnapshotVolume", "SwapVolume", "UnswapVolume"}
	volumes = append([]string{"BackupVolume"}, volumes...)
	require.Equal(t, project, exported(&docker.Activities{}), "the compose project's steps")
	require.Equal(t, volumes, exported(&volume.Activities{}), "the volume steps")
	for _, name := range project {
		require.False(t, slices.Contains(volumes, name), "%s is registered twice on the host queue", name)
	}
}
