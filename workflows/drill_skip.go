package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/backups"
)

// versionSkipFailedDrills: a full rollback reads the stack's drills before it picks its
// backups, and skips those whose latest drill failed.
const versionSkipFailedDrills = "skip-failed-drills"

// readDrills notes the backups whose latest drill on the stack's host failed. A pinned
// backup is the operator's choice and is restored as asked.
func (r *rollback) readDrills(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, versionSkipFailedDrills, workflow.DefaultVersion, 1) == workflow.DefaultVersion || r.req.Backup != "" {
		return nil
	}
	var d *drill.Activities
	var all map[string]backups.Drill
	if err := r.execIn(ctx, quick, d.Drills, drill.StackInput{Stack: r.req.Stack}, &all); err != nil {
		return err
	}
	r.drillFailed = map[string]backups.Drill{}
	for name, dr := range all {
		if !dr.OK {
			r.drillFailed[name] = dr
		}
	}
	return nil
}

// failedDrill says why a backup is skipped for its failed drill, or "".
func (r *rollback) failedDrill(name string) string {
	dr, ok := r.drillFailed[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s: skipped, its restore drill failed at %s: %s", name, dr.At.UTC().Format(time.RFC3339), dr.Detail)
}

// drillsFailed names the stack's backups whose latest drill failed, when read is set.
func drillsFailed(ctx workflow.Context, stack string, read bool) (map[string]bool, error) {
	failed := map[string]bool{}
	if !read {
		return failed, nil
	}
	var d *drill.Activities
	var all map[string]backups.Drill
	if err := workflow.ExecuteActivity(ctx, d.Drills, drill.StackInput{Stack: stack}).Get(ctx, &all); err != nil {
		return nil, fmt.Errorf("read the drills of %s: %w", stack, err)
	}
	for name, dr := range all {
		failed[name] = !dr.OK
	}
	return failed, nil
}
