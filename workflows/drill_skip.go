package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/backups"
)

// versionSkipFailedDrills: a full rollback reads the stack's drills before it picks its
// backups, and skips those whose latest drill failed.
const versionSkipFailedDrills = "skip-failed-drills"

// readDrills reads the stack's drills, so backups whose latest drill failed are skipped.
// A pinned backup is the operator's choice and is restored as asked. Drills that cannot
// be read stop no rollback: it goes on skipping nothing and says why in its report.
func (r *rollback) readDrills(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, versionSkipFailedDrills, workflow.DefaultVersion, 1) == workflow.DefaultVersion || r.req.Backup != "" {
		return nil
	}
	var d *drill.Activities
	var all map[string]backups.Drill
	if err := r.execIn(ctx, quick, d.Drills, drill.StackInput{Stack: r.req.Stack}, &all); err != nil {
		r.drillsUnread = "no backup was skipped for a failed restore drill: " + message(err)
		workflow.GetLogger(ctx).Warn("drills not read", "stack", r.req.Stack, "error", message(err))
		return nil
	}
	r.drills = all
	return nil
}

// failedDrill says why a backup is skipped for its failed drill, or "".
func (r *rollback) failedDrill(name, sha256 string) string {
	dr, ok := backups.LatestFor(r.drills, name, sha256)
	if !ok || dr.OK {
		return ""
	}
	return fmt.Sprintf("%s: skipped, its restore drill failed at %s: %s", name, dr.At.UTC().Format(time.RFC3339), dr.Detail)
}

// drillFailed says the backup's latest drill, of the file as it is now, failed.
func drillFailed(drills map[string]backups.Drill, c backup.Listed) bool {
	dr, ok := backups.LatestFor(drills, c.Name, c.SHA256)
	return ok && !dr.OK
}
