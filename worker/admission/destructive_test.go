package admission

import (
	"reflect"
	"testing"

	"github.com/algotrendy/rewind/activities/docker"
)

// TestEveryHostStepThatStartsOrStopsIsDestructive: a step that starts, stops or removes
// the stack's containers runs only once the run's admission is on record, so a Verify,
// Guard or Fleet run (or a Full run before approval) cannot start a stack an emergency
// stop left stopped. Every docker step is either listed here as read-only or destructive.
func TestEveryHostStepThatStartsOrStopsIsDestructive(t *testing.T) {
	readOnly := map[string]bool{"CaptureState": true, "CheckLogs": true, "CheckResources": true, "HoldTargets": true,
		"ProjectMounts": true, "SampleContainers": true, "WaitHealthy": true}
	typ := reflect.TypeFor[*docker.Activities]()
	for i := range typ.NumMethod() {
		name := typ.Method(i).Name
		if !readOnly[name] && !destructive(name) {
			t.Errorf("%s changes the stack but runs without an admission on record", name)
		}
	}
	for _, step := range []string{"StartProject", "ComposeUp", "StopProject"} {
		if !destructive(step) {
			t.Errorf("%s is not destructive", step)
		}
	}
}
