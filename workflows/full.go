package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/failure"
)

// Steps of the full rollback with database restore (runbook Option 2).
const (
	stepInspect   = "Check the volumes exist"
	stepPrepare   = "Restore the newest good backup into a staging volume (proves it restores)"
	stepSwap      = "Keep the damaged data and put the staged data in place"
	stepForensics = "Snapshot the damaged data (stored, re-read, hash checked), then free its volume"
	stepCleanup   = "Remove the staging volumes"
)

// Full is the runbook's Option 2: restore the database from the newest good backup. The
// backup is first restored whole into a staging volume, while approvers decide; only then
// does the stack stop, the damaged data go into a forensic snapshot that is stored and
// read back, and the staged data take its place. Any failure after the stop puts the
// stack back as it was found.
func Full(ctx workflow.Context, req Request) (Result, error) {
	r, err := begin(ctx, req, Steps(OptionFull)...)
	if err != nil {
		return Result{}, err
	}
	if len(r.plan.Target.Volumes) == 0 {
		return r.end(temporal.NewNonRetryableApplicationError(fmt.Sprintf("stack %s names no volumes; a full rollback restores them", req.Stack), failure.BadInput, nil), "")
	}
	var volumes []volume.VolumeInfo
	var staged []staging
	err = do(
		r.checklist,
		func() error { return r.inspectVolumes(&volumes) },
		func() error { return r.prepareWhileApproving(&staged) },
		r.stopStack,
		func() error { return r.swapVolumes(volumes, staged) },
		r.startStack,
		r.waitHealthy,
		func() error { return r.verify(fingerprints(staged))() },
		func() error { return r.keepForensics(staged) },
		func() error { return r.removeStaging(staged) },
		func() error { return r.archive(backupSection(staged))() },
	)
	return r.end(err, "restored "+restoredNames(staged))
}

func restoredNames(staged []staging) string {
	var names []string
	for _, s := range staged {
		names = append(names, s.Backup.Name)
	}
	return strings.Join(names, ", ")
}
