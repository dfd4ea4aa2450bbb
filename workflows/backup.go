package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// Backup is `rewind backup`: it holds the stack's database still (its own checkpoint, a
// pause of its containers, or a stop, as backups.consistency says), writes a backup of
// each volume into the stack's backup store in the runbook's format, and lets the
// database go. The release is its own step, deferred before the hold is asked for, so it
// runs on every path: a failed copy, a cancellation, a worker killed mid-copy whose copy
// a later attempt finishes.
func Backup(ctx workflow.Context, req api.BackupRequest) (res api.BackupResult, err error) {
	plan, err := backupPlan(ctx, req)
	if err != nil {
		return res, err
	}
	t := plan.Target
	res = api.BackupResult{Stack: req.Stack, Mode: t.Backups.Consistency}
	names, err := backupNames(t, workflow.Now(ctx).UTC())
	if err != nil {
		return res, err
	}
	step := func(summary string, limit time.Duration) workflow.Context {
		return workflow.WithActivityOptions(ctx, heartbeating(plan, summary+" — "+req.Stack, limit, hostStepRetry()))
	}
	h := holdFor(plan)
	if h.Mode != config.ConsistencyCheckpoint {
		// Recorded before anything is held: a release after a crash knows what to let go.
		var a *docker.Activities
		if err := workflow.ExecuteActivity(step("find what to hold", quick.limit(t)), a.HoldTargets, h).Get(ctx, &h.Containers); err != nil {
			return res, named("Find what to hold", err)
		}
	}
	heldFrom := workflow.Now(ctx)
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		why := releaseHold(dctx, plan, h)
		res.Held = workflow.Now(dctx).Sub(heldFrom)
		res.Released, res.Release = why == "", why
		if why == "" {
			res.Release = "released after " + res.Held.Round(time.Millisecond).String()
		}
	}
	defer func() {
		release()
		switch {
		case res.Released:
		case err == nil:
			err = temporal.NewNonRetryableApplicationError("the backup is written but its hold was not released: "+res.Release, failure.StepFailed, nil)
		default:
			// The failure that stopped the copy, and that the database is still held.
			err = temporal.NewNonRetryableApplicationError(message(err)+"; and the hold was not released: "+res.Release, failure.StepFailed, err)
		}
	}()
	if err := takeHold(step("hold the database still ("+h.Mode+")", stopping.limit(t)), plan, h); err != nil {
		return res, named("Hold the database still ("+h.Mode+")", err)
	}
	var v *volume.Activities
	for _, vol := range t.Volumes {
		in := volume.BackupInput{Volume: vol.Name, Location: t.Backups.Location(), Name: names[vol.Name], Pattern: vol.Pattern, Reason: req.Reason}
		var proof volume.SnapshotProof
		// A cancelled copy is waited for: the hold is released only once nothing copies.
		copying := workflow.WithWaitForCancellation(step("back up volume "+vol.Name, moving.limit(t)), true)
		if err := workflow.ExecuteActivity(copying, v.BackupVolume, in).Get(ctx, &proof); err != nil {
			return res, named("Back up volume "+vol.Name, err)
		}
		res.Backups = append(res.Backups, api.BackupWritten{Volume: vol.Name, Name: in.Name, Location: proof.Path, SHA256: proof.SHA256, Bytes: proof.Bytes})
	}
	release()
	if res.Released && workflow.GetVersion(ctx, versionBackupRetention, workflow.DefaultVersion, 1) >= 1 {
		res.Retention = prune(ctx, plan, workflow.WithActivityOptions(ctx, onHost(plan, "apply backups.keep — "+req.Stack, moving.limit(t), hostStepRetry())))
	}
	return res, nil
}

// versionBackupRetention: a backup applies the stack's backups.keep once it is written.
const versionBackupRetention = "backup-retention"

// prune applies the stack's keep policy to each volume's backups once the new ones are
// written and the hold released. A prune that fails leaves the backups as they are and
// says so: the backup just taken stands either way.
func prune(ctx workflow.Context, plan config.Plan, hostCtx workflow.Context) []api.Pruned {
	t := plan.Target
	if t.Backups.Keep.IsZero() {
		return nil
	}
	// Asked here as recorded backups did; the answer that counts is the prune's own, asked
	// of Temporal before each removal (a caller could say "none").
	_, err := rollbackRunning(ctx, plan.Stack)
	var out []api.Pruned
	for _, vol := range t.Volumes {
		p := api.Pruned{Volume: vol.Name}
		if err != nil {
			p.Error = "not applied: could not ask Temporal whether a rollback of the stack runs: " + message(err)
			out = append(out, p)
			continue
		}
		var v *volume.Activities
		in := volume.PruneInput{Stack: plan.Stack, Volume: vol.Name, Location: t.Backups.Location(), Pattern: vol.Pattern, Keep: t.Backups.Keep}
		var got volume.PruneResult
		if perr := workflow.ExecuteActivity(hostCtx, v.PruneBackups, in).Get(ctx, &got); perr != nil {
			p.Error = "not applied: " + message(perr)
		}
		p.Removed, p.NotOurs = got.Removed, got.NotOurs
		for _, d := range got.Decisions {
			if d.Keep {
				p.Kept = append(p.Kept, d.Name+" ("+strings.Join(d.Why, ", ")+")")
			}
		}
		out = append(out, p)
	}
	return out
}

// rollbackRunning says why every backup must stay this time: a rollback of the stack (or
// of a group that holds it) runs, as the server says, and may be restoring any of them.
// "" when none runs.
func rollbackRunning(ctx workflow.Context, stack string) (string, error) {
	var types []string
	for _, o := range api.Options() {
		if name, ok := api.WorkflowName(o); ok {
			types = append(types, name)
		}
	}
	in := policy.ExecutionInput{WorkflowID: api.WorkflowID(stack), Types: types, TaskQueue: workflow.GetInfo(ctx).TaskQueueName,
		Stack: stack, GroupIDPrefix: api.GroupWorkflowID(""), GroupType: api.FleetWorkflow}
	var p *policy.Activities
	lctx := locally(ctx, time.Minute, 3)
	var ran policy.Execution
	if err := workflow.ExecuteLocalActivity(lctx, p.Execution, in).Get(lctx, &ran); err != nil {
		return "", err
	}
	if !ran.Running || !ran.Ours {
		return "", nil
	}
	return fmt.Sprintf("a rollback runs (%s run %s) and may restore it", ran.WorkflowID, ran.RunID), nil
}

// backupPlan resolves the stack as the worker's configuration names it, and checks the
// run's ID and its requester: anyone the policy names for P1 may take a backup.
func backupPlan(ctx workflow.Context, req api.BackupRequest) (config.Plan, error) {
	var plan config.Plan
	var p *policy.Activities
	actx := askWorker(ctx)
	if err := workflow.ExecuteLocalActivity(actx, p.Plan, policy.ResolveInput{Stack: req.Stack, Severity: api.BackupSeverity}).Get(actx, &plan); err != nil {
		return plan, err
	}
	refuse := func(kind, why string) error {
		return temporal.NewNonRetryableApplicationError(why+"; nothing was held or written", kind, nil)
	}
	if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != api.BackupWorkflowID(req.Stack) {
		return plan, refuse(failure.BadInput, fmt.Sprintf("a backup of stack %s runs as %s, not %s", req.Stack, api.BackupWorkflowID(req.Stack), id))
	}
	pol := plan.Policy
	who, ok := pol.Person(req.Requester)
	if !ok {
		return plan, refuse(failure.NotAuthorized, fmt.Sprintf("%s is not in this worker's policy and may not take backups", req.Requester))
	}
	if pol.Rank(who.Role) < pol.Rank(pol.Rule.Role) {
		return plan, refuse(failure.NotAuthorized, fmt.Sprintf("%s may not take a backup: it needs %s or above", who.Name, pol.Rule.Role))
	}
	if len(plan.Target.Volumes) == 0 {
		return plan, refuse(failure.BadInput, fmt.Sprintf("stack %s names no volumes to back up", req.Stack))
	}
	return plan, nil
}

// backupNames names each volume's backup after its pattern, the * standing for the time
// as the runbook's `date +%Y%m%d_%H%M%S` writes it; volumes that share a pattern put
// their name before the time.
func backupNames(t config.Stack, now time.Time) (map[string]string, error) {
	uses := map[string]int{}
	for _, v := range t.Volumes {
		uses[v.Pattern]++
	}
	names := map[string]string{}
	for _, v := range t.Volumes {
		if strings.Count(v.Pattern, "*") != 1 || strings.ContainsAny(v.Pattern, "?[]/\\") || !strings.HasSuffix(v.Pattern, ".tar.gz") {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the backups pattern %q of volume %s is not a name with one * ending in .tar.gz (like questdb_backup_*.tar.gz), so rewind backup cannot name a backup it matches; nothing was held or written",
				v.Pattern, v.Name), failure.BadInput, nil)
		}
		stamp := now.Format("20060102_150405")
		if uses[v.Pattern] > 1 {
			stamp = v.Name + "_" + stamp
		}
		names[v.Name] = strings.Replace(v.Pattern, "*", stamp, 1)
	}
	return names, nil
}

// holdFor is how the stack's backups are held still.
func holdFor(plan config.Plan) docker.HoldInput {
	t := plan.Target
	return docker.HoldInput{Project: t.Project, Mode: t.Backups.Consistency, Volumes: t.VolumeNames(), Grace: t.StopGracePeriod}
}

// takeHold asks the database for its checkpoint, or pauses or stops what h names.
func takeHold(ctx workflow.Context, plan config.Plan, h docker.HoldInput) error {
	if h.Mode == config.ConsistencyCheckpoint {
		var p *probe.Activities
		return workflow.ExecuteActivity(ctx, p.CheckpointDatabase, probe.CheckpointInput{URL: plan.Target.CheckpointURL()}).Get(ctx, nil)
	}
	var a *docker.Activities
	return workflow.ExecuteActivity(ctx, a.HoldWrites, h).Get(ctx, nil)
}

// releaseHold lets the database go; it is tried until a worker on the host does it (a
// paused database has no one else to wake it). It returns why it could not, or "".
func releaseHold(ctx workflow.Context, plan config.Plan, h docker.HoldInput) string {
	o := heartbeating(plan, "release the database ("+h.Mode+") — "+plan.Stack, quick.limit(plan.Target), hostStepRetry())
	o.ScheduleToStartTimeout, o.ScheduleToCloseTimeout = 0, 24*time.Hour
	o.RetryPolicy.MaximumAttempts = 0
	ctx = workflow.WithActivityOptions(ctx, o)
	var err error
	if h.Mode == config.ConsistencyCheckpoint {
		var p *probe.Activities
		err = workflow.ExecuteActivity(ctx, p.CheckpointDatabase, probe.CheckpointInput{URL: plan.Target.CheckpointURL(), Release: true}).Get(ctx, nil)
	} else {
		var a *docker.Activities
		err = workflow.ExecuteActivity(ctx, a.ReleaseWrites, h).Get(ctx, nil)
	}
	if err != nil {
		return message(err)
	}
	return ""
}
