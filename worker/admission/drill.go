package admission

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/workflows/api"
)

// drillCheck judges the inputs of a drill's steps (ok false for any other input). A drill
// restores into volumes of its own and starts its throwaway database on them: it reads
// the stack's volumes' names but never mounts, writes or removes them.
func (r Reach) drillCheck(arg any) (error, bool) {
	t := r.Target
	switch in := arg.(type) {
	case drill.RestoreInput:
		return all(r.drillRun(), r.run(in.Run), r.project(in.Project), r.stackVolume(in.For), r.drillVolume(in.Staging, in.For), r.file(in.Backup)), true
	case drill.DatabaseInput:
		errs := []error{r.drillRun(), r.run(in.Run), r.project(in.Project), same("database", in.DatabaseURL, t.Checks.DatabaseURL)}
		for _, v := range in.Volumes {
			errs = append(errs, r.stackVolume(v.For), r.drillVolume(v.Staging, v.For))
		}
		return all(errs...), true
	case drill.CheckInput:
		return all(r.drillRun(), r.run(in.Run), same("database", in.DatabaseURL, t.Checks.DatabaseURL), r.query(in.Query),
			same("timeout", in.Timeout.String(), t.Checks.HealthTimeout.String())), true
	case drill.RecordInput:
		return all(r.drillRun(), same("stack", in.Stack, r.Stack), same("run", in.Drill.By, r.WorkflowID+"/"+r.RunID)), true
	case drill.CleanupInput:
		return all(r.drillRun(), r.run(in.Run), r.project(cmp.Or(in.Project, t.Project))), true
	case drill.StackInput:
		// It only reads the outcomes: a drill judges freshness, a rollback skips failures.
		return same("stack", in.Stack, r.Stack), true
	}
	return nil, false
}

// drillRun says the run is one of the stack's drills.
func (r Reach) drillRun() error {
	if stack, ok := api.DrillStack(r.WorkflowID); !ok || stack != r.Stack {
		return fmt.Errorf("workflow %q, which is not a drill of stack %s (%s)", r.WorkflowID, r.Stack, api.DrillWorkflowID(r.Stack))
	}
	return nil
}

// stackVolume is one of the stack's own volumes, named only to find what stands for it.
func (r Reach) stackVolume(name string) error {
	if !slices.Contains(r.Target.VolumeNames(), name) {
		return fmt.Errorf("volume %q, which is not a volume of stack %s", name, r.Stack)
	}
	return nil
}

// drillVolume is the volume this drill run restores for one of the stack's volumes.
func (r Reach) drillVolume(name, of string) error {
	if want := drill.Name(r.RunID, of); name != want || strings.TrimSpace(of) == "" {
		return fmt.Errorf("volume %q where this drill restores into %q", name, want)
	}
	return nil
}
