package workflows

import (
	"cmp"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/archive"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// staging is one volume's backup, restored whole into a staging volume of this run before
// anything of the stack changes, and what became of the damaged data it replaced.
type staging struct {
	Volume   volume.VolumeInfo
	Staging  string
	Backup   backup.Listed
	Restored volume.RestoreResult
	Skipped  []string
	// Swap is how the staged data got in place; after a rename, Forensic holds the
	// damaged data until its snapshot is stored.
	Swap     volume.SwapResult
	Forensic string
	Proof    volume.SnapshotProof
}

// inspectVolumes records each volume as it is (driver, options, labels, so it can be made
// again as compose made it) and fails, having changed nothing, when one does not exist.
func (f *fullRollback) inspectVolumes() (string, error) {
	var d *volume.Activities
	for _, v := range f.plan.Target.Volumes {
		var info volume.VolumeInfo
		if err := f.exec(quick, d.InspectVolume, volume.VolumeInput{Volume: v.Name}, &info); err != nil {
			return "", err
		}
		if !info.Exists {
			return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("volume %s does not exist; check stacks.%s.volumes", v.Name, f.req.Stack), failure.NoSuchVolume, nil)
		}
		f.volumes = append(f.volumes, info)
	}
	return strings.Join(f.plan.Target.VolumeNames(), ", "), nil
}

// prepareWhileApproving restores each volume's backup into a staging volume while the
// approval gate waits, so the restore costs nothing after approval. An approval is for the
// backups it names: when one fails to restore and an older one takes its place after the
// decision, the gate asks again.
func (f *fullRollback) prepareWhileApproving() error {
	f.cleanups = append(f.cleanups, func(ctx workflow.Context) { f.discardStaging(ctx, f.staged) })
	prepCtx, cancel := workflow.WithCancel(f.ctx)
	var prepErr error
	prepared := false
	f.gate.backups = make([]string, len(f.plan.Target.Volumes))
	workflow.Go(prepCtx, func(ctx workflow.Context) {
		prepErr = f.step(stepPrepare, func() (string, error) { return f.prepare(ctx) })
		prepared = true
	})
	// The gate opens once every volume's backup is named with its checksum: approvers
	// approve restoring those. A backup without a sidecar is named once it has restored.
	err := workflow.Await(f.ctx, func() bool { return prepared || f.gate.backupsKnown() })
	if err == nil {
		err = f.approval()
	}
	for err == nil {
		if err = workflow.Await(f.ctx, func() bool { return prepared }); err != nil || prepErr != nil {
			break
		}
		// A group's approval covers the backups it named for this stack (the newest good
		// one, for groups that named none): a fallback to another is not approved.
		if f.groupApproved() {
			if why := f.notWhatTheGroupApproved(); why != "" {
				err = temporal.NewNonRetryableApplicationError(why+"; nothing was changed", failure.NotAuthorized, nil)
				break
			}
			return nil
		}
		if f.plan.Policy.Rule.DecisionTime == 0 || f.gate.decidedFor == f.gate.backupDigest() {
			return nil
		}
		f.record(api.DecisionRecord{Reason: "the approved backup could not be restored; asking again for " + strings.Join(f.gate.backups, ", ")})
		err = f.approval()
	}
	cancel()
	_ = workflow.Await(f.ctx, func() bool { return prepared })
	return cmp.Or(err, prepErr)
}

// prepare restores, per volume, the newest backup that restores completely (or the
// pinned one) into a fresh staging volume, skipping and explaining the bad ones.
func (f *fullRollback) prepare(ctx workflow.Context) (string, error) {
	var b *backup.Activities
	var d *volume.Activities
	t := f.plan.Target
	var removed volume.RemoveResult
	if err := f.execIn(ctx, quick, d.RemoveStaleStaging, volume.StagingInput{Project: t.Project, Run: f.runKey()}, &removed); err != nil {
		return "", err
	}
	if err := f.readDrills(ctx); err != nil {
		return "", err
	}
	var details []string
	for i, v := range t.Volumes {
		var candidates []backup.Listed
		if err := f.execIn(ctx, quick, b.ListBackups, backup.ListInput{Location: t.Backups.Location(), Pattern: v.Pattern, Checksums: true, Only: f.req.Backup}, &candidates); err != nil {
			return "", err
		}
		s, err := f.stage(ctx, i, v, candidates)
		if err != nil {
			return "", err
		}
		f.staged = append(f.staged, s)
		details = append(details, fmt.Sprintf("%s: %s (%d entries, %s%s)%s", v.Name, s.Backup.Name, s.Restored.Entries, size(s.Restored.Bytes), transferNote(s.Restored), skippedNote(s.Skipped)))
	}
	if f.drillsUnread != "" {
		details = append(details, f.drillsUnread)
	}
	return strings.Join(details, "; "), nil
}

// transferNote says how a restore wrote, when it says.
func transferNote(r volume.RestoreResult) string {
	switch r.Transfer {
	case volume.TransferNative:
		return ", written by Rewind's mover"
	case volume.TransferArchive:
		return ", written through the engine's archive API: " + r.TransferWhy
	}
	return ""
}

// stage tries the candidates newest first until one restores whole into the staging volume.
func (r *rollback) stage(ctx workflow.Context, i int, v config.Volume, candidates []backup.Listed) (staging, error) {
	var b *backup.Activities
	var d *volume.Activities
	t := r.plan.Target
	s := staging{Staging: r.stagingName(v.Name)}
	for _, c := range candidates {
		if why := r.failedDrill(c.Name, c.SHA256); why != "" {
			s.Skipped = append(s.Skipped, why)
			continue
		}
		r.gate.backups[i] = ""
		if c.SHA256 != "" {
			r.gate.backups[i] = c.Name + " " + c.SHA256
		}
		var local backup.Downloaded
		err := r.execIn(ctx, moving, b.DownloadBackup, backup.DownloadInput{Location: t.Backups.Location(), Name: c.Name, SHA256: c.SHA256}, &local)
		if err == nil {
			err = r.execIn(ctx, moving, d.PrepareVolume, volume.PrepareInput{
				Staging: s.Staging, For: v.Name, Project: t.Project, Run: r.runKey(),
				Backup: local.Path, Layout: archive.LayoutName(v.Layout), SHA256: c.SHA256, RequireChecksum: t.Backups.RequireChecksum,
				Stack: r.req.Stack, Name: c.Name,
			}, &s.Restored)
		}
		if err == nil {
			s.Backup = c
			s.Backup.SHA256 = s.Restored.SHA256
			r.gate.backups[i] = c.Name + " " + s.Restored.SHA256
			return s, r.checkRoom(ctx, v, s)
		}
		if !failure.CondemnsBackup(err) {
			return s, err
		}
		s.Skipped = append(s.Skipped, message(err))
		var gone volume.RemoveResult
		if err := r.execIn(ctx, quick, d.RemoveStaging, volume.StagingInput{Project: t.Project, Run: r.runKey(), Names: []string{s.Staging}}, &gone); err != nil {
			return s, err
		}
	}
	reasons := append(s.Skipped, fmt.Sprintf("%d backups match %s in %s", len(candidates), v.Pattern, t.Backups.Location()))
	if len(candidates) == 0 {
		reasons = []string{fmt.Sprintf("no file matches %s in %s", v.Pattern, t.Backups.Location())}
	}
	return s, temporal.NewNonRetryableApplicationError("no backup of "+v.Name+" restores: "+strings.Join(reasons, "; "), failure.NoGoodBackup, nil)
}

// versionRoomBeforeStop: staged data that cannot be renamed in is measured against the
// volume's room before anything stops.
const versionRoomBeforeStop = "room-before-stop"

// checkRoom refuses, while nothing has stopped yet, staged data that cannot fit where it
// goes (failure.NoSpace): a copy into a full filesystem would fail only after the stop.
func (r *rollback) checkRoom(ctx workflow.Context, v config.Volume, s staging) error {
	if workflow.GetVersion(ctx, versionRoomBeforeStop, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	var d *volume.Activities
	var room volume.RoomResult
	return r.execIn(ctx, quick, d.CheckRoom, volume.RoomInput{Volume: v.Name, Staging: s.Staging, Bytes: s.Restored.Bytes}, &room)
}

// swapVolumes puts each volume's staged data in place. Where the engine allows it, the
// folders are renamed: the damaged data moves whole into a forensic volume of this run and
// the staged data into the volume, in time that does not grow with the data; the forensic
// snapshot then waits until the stack is healthy. Otherwise the damaged data is kept in a
// forensic snapshot of this run (stored, read back, hash checked) before the volume is
// emptied and the staged data copied in. From the moment the damaged data is kept, a
// failure puts it back.
func (f *fullRollback) swapVolumes() (string, error) {
	var details []string
	for i := range f.staged {
		s := &f.staged[i]
		s.Volume = f.volumes[i]
		detail, err := f.swap(s)
		if err != nil {
			return "", err
		}
		details = append(details, detail)
	}
	return strings.Join(details, "; "), nil
}

func (r *rollback) swap(s *staging) (string, error) {
	var d *volume.Activities
	v := s.Volume
	in := volume.SwapInput{Volume: v.Name, Staging: s.Staging, Forensic: r.volumeName("forensic", v.Name), Project: r.plan.Target.Project, Run: r.runKey()}
	if err := r.exec(quick, d.PlanSwap, in, &s.Swap); err != nil {
		return "", err
	}
	if s.Swap.Method == volume.SwapRename {
		in.Inodes = s.Swap.Inodes
		s.Forensic = in.Forensic
		r.changed("volume "+v.Name+" back in place", func(ctx workflow.Context) error {
			var undone volume.SwapResult
			return r.execIn(ctx, quick, d.UnswapVolume, in, &undone)
		})
		var swapped volume.SwapResult
		if err := r.exec(quick, d.SwapVolume, in, &swapped); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: renamed in; the damaged data kept whole in volume %s", v.Name, s.Forensic), nil
	}
	if err := r.exec(moving, d.SnapshotVolume, volume.SnapshotInput{Volume: v.Name, Name: r.evidence("failed_deployment_" + v.Name + ".tar.gz"), CreatedAt: v.CreatedAt}, &s.Proof); err != nil {
		return "", err
	}
	r.result.Evidence = append(r.result.Evidence, s.Proof.Path)
	proof := s.Proof
	r.changed("volume "+v.Name+" from its snapshot", func(ctx workflow.Context) error { return r.putVolumeBack(ctx, v, proof) })
	var removed volume.RemoveVolumeResult
	var created volume.VolumeInfo
	var copied volume.RestoreResult
	if err := do(
		func() error {
			return r.exec(quick, d.RemoveVolume, volume.RemoveVolumeInput{Volume: v.Name, Snapshot: s.Proof}, &removed)
		},
		func() error { return r.exec(quick, d.CreateVolume, v, &created) },
		func() error {
			return r.exec(moving, d.CopyVolume, volume.CopyInput{From: s.Staging, To: v.Name, Run: r.runKey()}, &copied)
		},
	); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: snapshot %s (sha256 %.12s), %s copied in (no rename: %s)", v.Name, s.Proof.Location, s.Proof.SHA256, size(copied.Bytes), s.Swap.Why), nil
}

// keepForensics stores the snapshot of the damaged data that renames moved aside, reads it
// back, and only then frees its volume. It runs once the stack is verified, so the
// rollback no longer puts anything back; a snapshot that cannot be stored leaves the
// forensic volume in place and says so.
func (f *fullRollback) keepForensics() error {
	f.undo = nil
	var renamed []*staging
	for i := range f.staged {
		if f.staged[i].Forensic != "" {
			renamed = append(renamed, &f.staged[i])
		}
	}
	if len(renamed) == 0 {
		return f.skip(stepForensics, "kept before the swap")
	}
	err := f.step(stepForensics, func() (string, error) {
		var d *volume.Activities
		var details []string
		for _, s := range renamed {
			in := volume.SnapshotInput{Volume: s.Forensic, Name: f.evidence("failed_deployment_" + s.Volume.Name + ".tar.gz")}
			if err := f.exec(moving, d.SnapshotVolume, in, &s.Proof); err != nil {
				return "", err
			}
			f.result.Evidence = append(f.result.Evidence, s.Proof.Path)
			var removed volume.RemoveVolumeResult
			if err := f.exec(quick, d.RemoveVolume, volume.RemoveVolumeInput{Volume: s.Forensic, Snapshot: s.Proof}, &removed); err != nil {
				return "", err
			}
			details = append(details, fmt.Sprintf("%s: %s (sha256 %.12s), volume %s freed", s.Volume.Name, s.Proof.Location, s.Proof.SHA256, s.Forensic))
		}
		return strings.Join(details, "; "), nil
	})
	if err != nil {
		var kept []string
		for _, s := range renamed {
			if s.Proof.SHA256 == "" {
				kept = append(kept, s.Forensic)
			}
		}
		f.notices = append(f.notices, fmt.Sprintf("the damaged data is kept in volume %s: its snapshot could not be stored (%s)", strings.Join(kept, ", "), message(err)))
	}
	return nil
}

// putVolumeBack empties a volume and restores its damaged data from this run's snapshot.
func (r *rollback) putVolumeBack(ctx workflow.Context, v volume.VolumeInfo, proof volume.SnapshotProof) error {
	var d *volume.Activities
	var removed volume.RemoveVolumeResult
	var created volume.VolumeInfo
	var restored volume.RestoreResult
	return do(
		func() error {
			return r.execIn(ctx, quick, d.RemoveVolume, volume.RemoveVolumeInput{Volume: v.Name, Snapshot: proof}, &removed)
		},
		func() error { return r.execIn(ctx, quick, d.CreateVolume, v, &created) },
		func() error {
			return r.execIn(ctx, moving, d.RestoreVolume, volume.RestoreInput{Volume: v.Name, Backup: cmp.Or(proof.Local, proof.Path), Layout: "runbook", SHA256: proof.SHA256}, &restored)
		},
	)
}

// removeStaging removes this run's staging volumes once their data is in place.
func (f *fullRollback) removeStaging() (string, error) {
	var d *volume.Activities
	var gone volume.RemoveResult
	err := f.exec(quick, d.RemoveStaging, volume.StagingInput{Project: f.plan.Target.Project, Run: f.runKey(), Names: stagingNames(f.staged)}, &gone)
	return strings.Join(gone.Removed, ", "), err
}

// discardStaging removes what a failed run staged; a worker that finds it later does too.
func (r *rollback) discardStaging(ctx workflow.Context, staged []staging) {
	var d *volume.Activities
	var gone volume.RemoveResult
	names := stagingNames(staged)
	for _, v := range r.plan.Target.Volumes {
		names = append(names, r.stagingName(v.Name), r.volumeName("forensic", v.Name))
	}
	_ = r.execIn(ctx, quick, d.RemoveStaging, volume.StagingInput{Project: r.plan.Target.Project, Run: r.runKey(), Names: names}, &gone)
}

func stagingNames(staged []staging) []string {
	var out []string
	for _, s := range staged {
		out = append(out, s.Staging)
	}
	return out
}

// stagingName is the staging volume of one volume in this run.
func (r *rollback) stagingName(volume string) string { return r.volumeName("staging", volume) }

// volumeName names a volume this run makes for one of the stack's: rewind-<kind>-<run>-<volume>.
func (r *rollback) volumeName(kind, volume string) string {
	run := workflow.GetInfo(r.ctx).WorkflowExecution.RunID
	return fmt.Sprintf("rewind-%s-%.8s-%s", kind, strings.ReplaceAll(run, "-", ""), volume)
}

// runKey names this run on what it leaves on the host: workflow ID and run ID.
func (r *rollback) runKey() string {
	info := workflow.GetInfo(r.ctx).WorkflowExecution
	return info.ID + "/" + info.RunID
}

// fingerprints are the data fingerprints recorded with the restored backups, by volume,
// for the verification to compare with the restored database.
func fingerprints(staged []staging) map[string]string {
	out := map[string]string{}
	for _, s := range staged {
		if s.Backup.Fingerprint != "" {
			out[s.Volume.Name] = s.Backup.Fingerprint
		}
	}
	return out
}

func backupSection(staged []staging) string {
	var b strings.Builder
	b.WriteString("## Backups\n\n| volume | restored | sha256 | checksum sidecar | put in place by | forensic snapshot of the damaged data |\n|---|---|---|---|---|---|\n")
	for _, s := range staged {
		kept := fmt.Sprintf("%s (sha256 %s)", s.Proof.Location, s.Proof.SHA256)
		if s.Proof.SHA256 == "" && s.Forensic != "" {
			kept = "not stored; the damaged data is in volume " + s.Forensic
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", s.Volume.Name, s.Backup.Name, s.Backup.SHA256, cmp.Or(s.Backup.Sidecar, "missing"), s.Swap.Method, kept)
	}
	var skipped []string
	for _, s := range staged {
		for _, sk := range s.Skipped {
			skipped = append(skipped, "- "+sk)
		}
	}
	if len(skipped) > 0 {
		b.WriteString("\n## Skipped backups\n\n" + strings.Join(skipped, "\n") + "\n")
	}
	return b.String()
}

func skippedNote(skipped []string) string {
	if len(skipped) == 0 {
		return ""
	}
	return fmt.Sprintf("; skipped %d newer", len(skipped))
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
