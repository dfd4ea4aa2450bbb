package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
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
func Full(ctx workflow.Context, req api.Request) (api.Result, error) {
	table := fullSteps()
	r, err := begin(ctx, req, linesOf(table)...)
	if err != nil {
		return api.Result{}, err
	}
	if len(r.plan.Target.Volumes) == 0 {
		return r.end(temporal.NewNonRetryableApplicationError(fmt.Sprintf("stack %s names no volumes; a full rollback restores them", req.Stack), failure.BadInput, nil), "")
	}
	f := &fullRollback{rollback: r}
	err = runSteps(f, table)
	return r.end(err, "restored "+f.restoredNames())
}

// fullSteps are the full rollback's steps, in the order they run.
func fullSteps() []step[*fullRollback] {
	return []step[*fullRollback]{
		line(stepChecklist, (*fullRollback).checklist),
		line(stepInspect, (*fullRollback).inspectVolumes),
		marking((*fullRollback).prepareWhileApproving, stepPrepare, api.StepApproval),
		line(stepStop, (*fullRollback).stopStack),
		line(stepSwap, (*fullRollback).swapVolumes),
		line(stepUp, (*fullRollback).startStack),
		line(stepHealthy, (*fullRollback).waitHealthy),
		line(stepVerify, (*fullRollback).verifyRestored),
		marking((*fullRollback).keepForensics, stepForensics),
		line(stepCleanup, (*fullRollback).removeStaging),
		line(stepArchive, (*fullRollback).archiveRestore),
	}
}

// fullRollback is a full rollback: the volumes as it found them, and each one's backup
// staged, then put in place.
type fullRollback struct {
	*rollback
	volumes []volume.VolumeInfo
	staged  []staging
}

// versionStartWhatStopped: a full rollback starts the containers its stop stopped through
// the Engine API, not with a compose CLI. Runs that began before replay with compose up.
const versionStartWhatStopped = "full-starts-what-stopped"

// startStack starts the stack again. After the swap the compose definition and the
// containers are those the stop found, so compose would create nothing: the containers
// the stop stopped start through the engine, a compose process saved. Where compose
// would do more (a copy-in removed a container, the files changed, a dependency waits on
// health), compose up does it. Its undo, recorded first, stops the project.
func (f *fullRollback) startStack() (string, error) {
	if workflow.GetVersion(f.ctx, versionStartWhatStopped, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return f.rollback.startStack()
	}
	f.changed("what it started stopped", f.stopStarted)
	var d *docker.Activities
	var started docker.StartResult
	in := f.composeInput()
	in.Stopped = f.stopped
	if err := f.exec(quick, d.StartProject, in, &started); err != nil {
		return "", err
	}
	if started.NeedsCompose != "" {
		return "compose up -d: " + started.NeedsCompose, f.composeUp(f.ctx)
	}
	return fmt.Sprintf("%d started, %d already running", len(started.Started), len(started.AlreadyRunning)), nil
}

// verifyRestored is verify, comparing the data with the restored backups' fingerprints.
func (f *fullRollback) verifyRestored() (string, error) {
	return f.verifyStack(fingerprints(f.staged))
}

// archiveRestore is archive, with the backups restored at the top of the report.
func (f *fullRollback) archiveRestore() (string, error) {
	return f.archiveWith(backupSection(f.staged))
}

func (f *fullRollback) restoredNames() string {
	var names []string
	for _, s := range f.staged {
		names = append(names, s.Backup.Name)
	}
	return strings.Join(names, ", ")
}
