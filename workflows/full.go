package workflows

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/archive"
	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
)

// Steps of the full rollback with database restore (runbook Option 2).
const (
	stepChecklist = "Capture ps, logs, stats and the newest backups"
	stepApproval  = "Approval"
	stepStopAll   = "Stop the stack"
	stepPick      = "Pick the newest good backup (sha256 + archive test)"
	stepSnapshot  = "Snapshot the volume for forensics (stored, re-read, hash checked)"
	stepFetch     = "Bring the backup onto the Docker host"
	stepRemoveVol = "Remove the volume (and the containers holding it)"
	stepCreateVol = "Recreate the volume with its labels"
	stepRestore   = "Restore the backup into the volume"
	stepUp        = "Start the stack"
	stepHealthy   = "Wait until healthy"
	stepVerify    = "Verify (health, data, logs, endpoint)"
	stepArchive   = "Archive the incident"
)

// Full is the runbook's Option 2: restore the database from the newest good backup after
// keeping the damaged volume for forensics. A volume is only removed after its snapshot is
// stored and re-read; a cancelled rollback puts the stack back as it found it.
func Full(ctx workflow.Context, in Request) (res Result, err error) {
	// The volume and the backup are checked before anyone is asked to approve and before
	// the stack stops, so a misnamed volume or a bad backup changes nothing, and approvers
	// approve restoring a named backup. Rollbacks started before this order keep theirs.
	checksFirst := workflow.GetVersion(ctx, "checks-before-changes", workflow.DefaultVersion, 1) == 1
	steps := []string{stepChecklist, stepApproval, stepStopAll, stepPick}
	if checksFirst {
		steps = []string{stepChecklist, stepPick, stepApproval, stepStopAll}
	}
	r, err := newRollback(ctx, in, append(steps, stepSnapshot, stepFetch,
		stepRemoveVol, stepCreateVol, stepRestore, stepUp, stepHealthy, stepVerify, stepArchive)...)
	if err != nil {
		return Result{}, err
	}
	if len(in.Target.Volumes) == 0 || in.Target.Backups.Pattern == "" {
		return r.failed(temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stack %s has no volumes or backups configured; a full rollback restores one", in.Stack), docker.ErrBadInput, nil))
	}
	var d *docker.Activities
	var b *backup.Activities
	volume := in.Target.Volumes[0]
	project := in.Target.Project

	if err := r.checklist(stepChecklist); err != nil {
		return r.failed(err)
	}
	var before docker.VolumeInfo
	var good backup.LatestGood
	if checksFirst {
		if err := r.inspectVolume(stepChecklist, volume, &before); err != nil {
			return r.failed(err)
		}
		if err := r.pickBackup(stepPick, &good); err != nil {
			return r.failed(err)
		}
	}
	if err := r.awaitApproval(stepApproval); err != nil {
		return r.failed(err)
	}

	// From here on the stack changes; a cancellation puts it back.
	var undo undoState
	defer func() {
		if err != nil && temporal.IsCanceledError(err) {
			r.putBack(undo)
		}
	}()

	var stopped docker.StopResult
	if err := r.run(stepStopAll, d.StopProject, docker.StopInput{Project: project, Grace: in.Target.StopGrace}, &stopped,
		func() string { return fmt.Sprintf("%d stopped, %d killed", len(stopped.Stopped), len(stopped.Killed)) }); err != nil {
		return r.failed(err)
	}
	undo.stopped = true

	if !checksFirst {
		if err := r.pickBackup(stepPick, &good); err != nil {
			return r.failed(err)
		}
		if err := r.inspectVolume(stepSnapshot, volume, &before); err != nil {
			return r.failed(err)
		}
	}
	var proof docker.SnapshotProof
	if err := r.runFor(stepSnapshot, 2*time.Hour, d.SnapshotVolume, docker.SnapshotInput{
		Volume: volume, Name: r.evidence("failed_deployment_" + volume + ".tar.gz"),
	}, &proof, func() string {
		return fmt.Sprintf("%s, %d bytes, sha256 %s", proof.Location, proof.Bytes, proof.SHA256[:12])
	}); err != nil {
		return r.failed(err)
	}
	undo.snapshot = proof
	undo.volume = before

	var local backup.Downloaded
	if err := r.runFor(stepFetch, 2*time.Hour, b.DownloadBackup, backup.DownloadInput{
		Location: in.Target.Backups.Location, Name: good.Chosen.Name, SHA256: good.Chosen.SHA256,
	}, &local, func() string { return local.Path }); err != nil {
		return r.failed(err)
	}

	var removed docker.RemoveVolumeResult
	if err := r.run(stepRemoveVol, d.RemoveVolume, docker.RemoveVolumeInput{Volume: volume, Snapshot: proof}, &removed,
		func() string {
			return fmt.Sprintf("removed %s and %d containers", volume, len(removed.RemovedContainers))
		}); err != nil {
		return r.failed(err)
	}
	undo.volumeRemoved = true

	var created docker.VolumeInfo
	if err := r.run(stepCreateVol, d.CreateVolume, before, &created,
		func() string {
			return fmt.Sprintf("%s (driver %s, %d labels)", created.Name, created.Driver, len(created.Labels))
		}); err != nil {
		return r.failed(err)
	}

	var restored docker.RestoreResult
	if err := r.runFor(stepRestore, 4*time.Hour, d.RestoreVolume, docker.RestoreInput{
		Volume: volume, Backup: local.Path, Layout: archive.RunbookLayout, VerifiedSHA256: good.Chosen.SHA256,
	}, &restored, func() string {
		return fmt.Sprintf("%d entries, %d bytes from %s", restored.Entries, restored.Bytes, good.Chosen.Name)
	}); err != nil {
		return r.failed(err)
	}
	undo.restored = true

	report, err := r.startAndVerify()
	if err != nil {
		return r.failed(err)
	}

	var extra []string
	extra = append(extra, fmt.Sprintf("## Backup\n\nRestored %s (sha256 %s, checksum sidecar: %s, %d entries).\nForensic snapshot of the damaged volume: %s (sha256 %s).",
		good.Chosen.Name, good.Chosen.SHA256, good.Chosen.Sidecar, good.Chosen.Entries, proof.Location, proof.SHA256))
	if len(good.Skipped) > 0 {
		var sk []string
		for _, s := range good.Skipped {
			sk = append(sk, "- "+s.Reason)
		}
		extra = append(extra, "## Skipped backups\n\n"+strings.Join(sk, "\n"))
	}
	extra = append(extra, verificationSection(report))
	if err := r.archiveIncident(stepArchive, extra); err != nil {
		return r.failed(err)
	}
	return r.completed("restored " + good.Chosen.Name), nil
}

// pickBackup finds the newest backup that passes its checksum and a full archive read.
func (r *rollback) pickBackup(step string, good *backup.LatestGood) error {
	var b *backup.Activities
	t := r.in.Target
	return r.runFor(step, time.Hour, b.FindLatestGood, backup.LatestGoodInput{
		Location: t.Backups.Location, Pattern: t.Backups.Pattern,
		RequireChecksum: t.Backups.RequireChecksum, Layout: archive.RunbookLayout,
	}, good, func() string {
		detail := fmt.Sprintf("%s (sha256 %s, checksum %s)", good.Chosen.Name, good.Chosen.SHA256[:12], good.Chosen.Sidecar)
		if len(good.Skipped) > 0 {
			detail += fmt.Sprintf("; skipped %d newer", len(good.Skipped))
		}
		return detail
	})
}

// inspectVolume records the volume as it is and fails the step when it does not exist.
func (r *rollback) inspectVolume(step, volume string, v *docker.VolumeInfo) error {
	var d *docker.Activities
	if err := r.exec(step, d.InspectVolume, docker.VolumeInput{Volume: volume}, v); err != nil {
		return r.stepFailed(step, err)
	}
	if !v.Exists {
		return r.stepFailed(step, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("volume %s does not exist; check stacks.%s.volumes (nothing was changed)", volume, r.in.Stack), docker.ErrNoSuchVolume, nil))
	}
	return nil
}

// undoState is how far a rollback changed the stack, for putting it back on cancellation.
type undoState struct {
	stopped bool
	// volume is the damaged volume as inspected, to create it again as compose made it.
	volume        docker.VolumeInfo
	snapshot      docker.SnapshotProof
	volumeRemoved bool
	restored      bool
}

// putBack returns a cancelled rollback's stack to how it was: the damaged volume's data
// from its forensic snapshot when the volume was already replaced, then compose up.
func (r *rollback) putBack(u undoState) {
	if !u.stopped {
		return
	}
	ctx, _ := workflow.NewDisconnectedContext(r.ctx)
	back := &rollback{ctx: ctx, in: r.in, track: r.track, prefix: r.prefix}
	var d *docker.Activities
	if u.volumeRemoved && !u.restored {
		// Empty what the cancelled restore wrote, so the volume holds the snapshot's files
		// and nothing else; the snapshot is the proof removal needs.
		var removed docker.RemoveVolumeResult
		if err := back.exec("Put back", d.RemoveVolume, docker.RemoveVolumeInput{Volume: u.volume.Name, Snapshot: u.snapshot}, &removed); err != nil {
			workflow.GetLogger(ctx).Error("empty the volume before putting its data back", "error", err)
			return
		}
		var v docker.VolumeInfo
		_ = back.exec("Put back", d.CreateVolume, u.volume, &v)
		var res docker.RestoreResult
		if err := back.execFor("Put back", 4*time.Hour, d.RestoreVolume, docker.RestoreInput{
			Volume: u.volume.Name, Backup: cmp.Or(u.snapshot.Local, u.snapshot.Path), Layout: archive.RunbookLayout, VerifiedSHA256: u.snapshot.SHA256,
		}, &res); err != nil {
			workflow.GetLogger(ctx).Error("put back the volume from its snapshot", "error", err)
			return
		}
	}
	if err := back.composeUp("Put the stack back as it was"); err != nil {
		workflow.GetLogger(ctx).Error("restart the stack after cancellation", "error", err)
	}
}

// startAndVerify is the end every code and data rollback shares: compose up, wait until
// healthy, and the verification child workflow.
func (r *rollback) startAndVerify() (VerifyReport, error) {
	if err := r.composeUp(stepUp); err != nil {
		return VerifyReport{}, err
	}
	if err := r.waitHealthy(stepHealthy); err != nil {
		return VerifyReport{}, err
	}
	return r.verify(stepVerify)
}

func (r *rollback) composeUp(step string) error {
	var d *docker.Activities
	t := r.in.Target
	var up docker.ComposeUpResult
	return r.run(step, d.ComposeUp, docker.ComposeUpInput{Project: t.Project, Files: t.ComposeFiles, WorkingDir: t.WorkingDir, Command: t.ComposeCommand},
		&up, func() string { return strings.Join(up.Command, " ") })
}

func (r *rollback) waitHealthy(step string) error {
	var d *docker.Activities
	t := r.in.Target
	var probes []string
	if t.Checks.HealthURL != "" {
		probes = append(probes, t.Checks.HealthURL)
	}
	var healthy docker.WaitHealthyResult
	return r.runFor(step, t.Checks.HealthTimeout+5*time.Minute, d.WaitHealthy,
		docker.WaitHealthyInput{Project: t.Project, Services: t.Services, Probes: probes, Timeout: t.Checks.HealthTimeout},
		&healthy, func() string { return fmt.Sprintf("%v after %s", healthy.Services, healthy.Waited) })
}

// verify runs the verification child workflow and fails the rollback when a check fails.
func (r *rollback) verify(step string) (VerifyReport, error) {
	r.track.start(step)
	ctx := workflow.WithChildOptions(r.ctx, workflow.ChildWorkflowOptions{
		WorkflowID:    workflow.GetInfo(r.ctx).WorkflowExecution.ID + "-verify",
		StaticSummary: "verification of " + r.in.Stack,
	})
	var report VerifyReport
	if err := workflow.ExecuteChildWorkflow(ctx, Verify, VerifyRequest{
		Stack: r.in.Stack, Project: r.in.Target.Project, HostQueue: r.in.HostQueue, Checks: r.in.Target.Checks,
	}).Get(ctx, &report); err != nil {
		return report, r.stepFailed(step, err)
	}
	if !report.Passed {
		err := temporal.NewNonRetryableApplicationError("verification failed: "+strings.Join(report.Failed(), "; "), ErrVerificationFailed, nil, report)
		return report, r.stepFailed(step, err)
	}
	r.track.finish(step, StateDone, fmt.Sprintf("%d checks passed", len(report.Checks)))
	return report, nil
}

func verificationSection(v VerifyReport) string {
	var b strings.Builder
	b.WriteString("## Verification\n\n| check | result | evidence |\n|---|---|---|\n")
	for _, c := range v.Checks {
		verdict := "pass"
		if !c.Passed {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Name, verdict, strings.ReplaceAll(c.Evidence, "|", "\\|"))
	}
	return b.String()
}
