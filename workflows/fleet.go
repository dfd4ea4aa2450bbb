package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// Fleet rolls back a group of stacks on their own hosts (`rewind start … --group`): one
// request and one approval for the group, then each stack's rollback as a child workflow
// on the task queue its host's worker polls, as many at once as the group allows. A stack
// that fails stops the ones not started yet, unless the group says continue; the ones
// already running finish (or put their stack back) on their own.
func Fleet(ctx workflow.Context, req api.Request) (api.Result, error) {
	t, err := newTracker(ctx, fmt.Sprintf("%s rollback of group %s, %s, by %s: %s", req.Option, req.Group, req.Severity, req.Requester, req.Reason), api.StepApproval)
	if err != nil {
		return api.Result{}, err
	}
	info := workflow.GetInfo(ctx).WorkflowExecution
	subject := "group " + req.Group
	r := &rollback{ctx: ctx, req: req, subject: subject, track: t,
		prefix: evidence.Prefix(workflow.Now(ctx).UTC().Format("20060102"), info.ID, info.RunID),
		result: api.Result{Stack: subject, Option: req.Option}}
	if r.gate, err = newGate(r); err != nil {
		return api.Result{}, err
	}
	var group config.GroupPlan
	if err := r.resolveGroup(&group); err != nil {
		t.end("failed", message(err))
		return api.Result{}, err
	}
	for _, s := range group.Stacks {
		t.add(fleetStep(s, group.Hosts[s]))
	}
	named, err := r.nameGroupBackups(group)
	if err != nil {
		t.end("failed", message(err))
		return api.Result{}, err
	}
	if err := r.approval(); err != nil {
		return r.end(err, "")
	}
	// The accepted decision, not the log's last line: notes (an undelivered page) follow it.
	decision := "approved for the group"
	for _, d := range slices.Backward(t.progress.Decisions) {
		if d.Accepted && d.Approve {
			decision = d.Reason
			break
		}
	}
	failed := r.rollBackEach(group, decision, named)
	if len(failed) > 0 {
		// Each failed stack was put back by its own rollback, which says how.
		msg := fmt.Sprintf("%d of %d stacks of group %s failed: %s", len(failed), len(group.Stacks), group.Group, strings.Join(failed, "; "))
		t.end("failed", msg)
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.notifyIn(dctx, notify.Event{Kind: notify.KindFailed, Outcome: "failed", Detail: msg})
		return api.Result{}, temporal.NewNonRetryableApplicationError(msg, failure.GroupFailed, nil)
	}
	return r.end(nil, fmt.Sprintf("rolled back %s", strings.Join(group.Stacks, ", ")))
}

// resolveGroup asks the worker's configuration for the group's stacks and policy and
// admits the requester, as a single rollback does.
func (r *rollback) resolveGroup(group *config.GroupPlan) error {
	var p *policy.Activities
	ctx := askWorker(r.ctx)
	if err := workflow.ExecuteLocalActivity(ctx, p.GroupPlan, policy.GroupInput{Group: r.req.Group, Severity: r.req.Severity}).Get(ctx, group); err != nil {
		return err
	}
	if _, ok := api.WorkflowName(r.req.Option); !ok {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown option %q: want one of %s", r.req.Option, strings.Join(api.Options(), ", ")), failure.BadInput, nil)
	}
	r.plan = config.Plan{Stack: r.subject, Policy: group.Policy}
	return r.admit()
}

// rollBackEach runs the stacks' rollbacks as children and returns what failed.
func (r *rollback) rollBackEach(group config.GroupPlan, decision string, named map[string][]string) (failed []string) {
	ctx := r.ctx
	name, _ := api.WorkflowName(r.req.Option)
	pending := slices.Clone(group.Stacks)
	running := 0
	wait := workflow.NewSelector(ctx)
	stopped := func() bool { return len(failed) > 0 && group.OnFailure == config.OnFailureStop }
	for len(pending) > 0 || running > 0 {
		for running < group.Concurrency && len(pending) > 0 && !stopped() {
			stack := pending[0]
			pending = pending[1:]
			step := fleetStep(stack, group.Hosts[stack])
			child := r.req
			child.Stack, child.Statement, child.Signature, child.GroupDecision = stack, "", "", decision
			child.Reason = fmt.Sprintf("%s (group %s)", r.req.Reason, group.Group)
			// The stack restores what the group's approval named, and nothing else: its
			// one backup pinned, and its gate refuses to go on with any other.
			if backups := named[stack]; len(backups) > 0 {
				child.GroupBackups = backups
				if len(backups) == 1 {
					child.Backup, _, _ = strings.Cut(backups[0], " ")
				}
			}
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID:            api.WorkflowID(stack),
				TaskQueue:             workflow.GetInfo(ctx).TaskQueueName,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				// Cancelling the group cancels each stack's rollback, which puts it back.
				ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
				StaticSummary:     fmt.Sprintf("%s rollback of %s, %s, by %s (group %s)", r.req.Option, stack, r.req.Severity, r.req.Requester, group.Group),
				TypedSearchAttributes: temporal.NewSearchAttributes(
					api.StackKey.ValueSet(stack), api.OptionKey.ValueSet(r.req.Option),
					api.SeverityKey.ValueSet(r.req.Severity), api.PhaseKey.ValueSet("starting"),
				),
			})
			if err := r.track.start(step); err != nil {
				return append(failed, stack+": "+message(err))
			}
			if err := r.track.detail(step, "rolling back as "+api.WorkflowID(stack)); err != nil {
				return append(failed, stack+": "+message(err))
			}
			running++
			wait.AddFuture(workflow.ExecuteChildWorkflow(cctx, name, child), func(f workflow.Future) {
				running--
				var res api.Result
				if err := f.Get(ctx, &res); err != nil {
					failed = append(failed, stack+": "+message(err))
					r.track.finish(step, api.StateFailed, message(err))
					return
				}
				r.track.finish(step, api.StateDone, res.Outcome)
			})
		}
		if running == 0 {
			break
		}
		wait.Select(ctx)
	}
	for _, stack := range pending {
		r.skip(fleetStep(stack, group.Hosts[stack]), "not started: the group stops on the first failure (groups."+group.Group+".on_failure: stop)")
	}
	return failed
}

func fleetStep(stack, host string) string {
	if host == "" {
		return "Roll back " + stack
	}
	return fmt.Sprintf("Roll back %s on %s", stack, host)
}

// parentNotGroup says why this rollback's parent is not Rewind's group rollback, or "": a
// workflow of anyone's can take the group's workflow ID and start a child on Rewind's queue
// with a group decision of its own making, so the server is asked what the parent runs
// and where.
func (r *rollback) parentNotGroup() string {
	info := workflow.GetInfo(r.ctx)
	parent := info.ParentWorkflowExecution
	var p *policy.Activities
	ctx := anyWorker(r.ctx, "", 30*time.Second)
	var ran policy.Execution
	if err := workflow.ExecuteActivity(ctx, p.Execution, policy.ExecutionInput{
		WorkflowID: parent.ID, RunID: parent.RunID, Types: []string{api.FleetWorkflow}, TaskQueue: info.TaskQueueName,
	}).Get(ctx, &ran); err != nil {
		return fmt.Sprintf("could not ask the server about the group rollback %s that started this one: %s", parent.ID, message(err))
	}
	if !ran.Ours {
		return fmt.Sprintf("this rollback's parent %s run %s is a %s on %s, not Rewind's group rollback on %s: its group decision counts for nothing; start a group with `rewind start --group`",
			parent.ID, parent.RunID, cmp.Or(ran.Type, "workflow the server does not know"), cmp.Or(ran.Queue, "no queue"), info.TaskQueueName)
	}
	return ""
}

// groupApproved says whether this rollback runs as a stack of a group rollback whose
// approval it shares: only a real child of the group's workflow counts, which a request
// alone cannot make itself.
func (r *rollback) groupApproved() bool {
	parent := workflow.GetInfo(r.ctx).ParentWorkflowExecution
	return r.req.Group != "" && r.req.GroupDecision != "" && parent != nil && parent.ID == api.GroupWorkflowID(r.req.Group)
}

// versionGroupNamesBackups: from here a group's full rollback names, before its gate
// opens, the backup each stack will restore (newest with a sha256, per volume), so the
// group's approval binds them as a single stack's does, and each stack restores only that.
const versionGroupNamesBackups = "group-names-backups"

// nameGroupBackups lists, on each stack's host, the newest backup with a sha256 of each
// of its volumes and puts them in the gate ("stack:name sha256"), so approvers approve
// restoring those; it returns them by stack ("name sha256" per volume). Only a full
// rollback restores backups, and only a gate that waits for someone has them approved: a
// P1 goes at once, each stack with its newest good backup, as a single stack's P1 does.
func (r *rollback) nameGroupBackups(group config.GroupPlan) (map[string][]string, error) {
	if r.req.Option != api.OptionFull || r.plan.Policy.Rule.DecisionTime == 0 || workflow.GetVersion(r.ctx, versionGroupNamesBackups, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil, nil
	}
	var p *policy.Activities
	var b *backup.Activities
	lctx := askWorker(r.ctx)
	named := map[string][]string{}
	r.gate.backups = nil
	skipFailedDrills := workflow.GetVersion(r.ctx, versionSkipFailedDrills, workflow.DefaultVersion, 1) != workflow.DefaultVersion && r.req.Backup == ""
	for _, stack := range group.Stacks {
		var plan config.Plan
		if err := workflow.ExecuteLocalActivity(lctx, p.Plan, policy.ResolveInput{Stack: stack, Severity: r.req.Severity}).Get(lctx, &plan); err != nil {
			return nil, err
		}
		ctx := workflow.WithActivityOptions(r.ctx, onHost(plan, "Name the backup of "+stack+" — "+r.subject, 2*time.Minute, tries(5)))
		// The stack's rollback skips a backup whose drill failed: the group names what it restores.
		var drills map[string]backups.Drill
		if skipFailedDrills {
			var d *drill.Activities
			if err := workflow.ExecuteActivity(ctx, d.Drills, drill.StackInput{Stack: stack}).Get(ctx, &drills); err != nil {
				// Unread drills stop no rollback: nothing is skipped for them.
				workflow.GetLogger(ctx).Warn("drills not read; no backup is skipped for its drill", "stack", stack, "error", message(err))
			}
		}
		for _, v := range plan.Target.Volumes {
			var candidates []backup.Listed
			in := backup.ListInput{Location: plan.Target.Backups.Location(), Pattern: v.Pattern, Checksums: true, Only: r.req.Backup}
			if err := workflow.ExecuteActivity(ctx, b.ListBackups, in).Get(ctx, &candidates); err != nil {
				if notTaken(err) {
					return nil, noWorker(err, plan.HostQueue, "the Docker host of stack "+stack+"; nothing was changed")
				}
				return nil, fmt.Errorf("list the backups of %s %s: %w", stack, v.Name, err)
			}
			i := slices.IndexFunc(candidates, func(c backup.Listed) bool { return c.SHA256 != "" && !drillFailed(drills, c) })
			if i < 0 {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("stack %s has no backup of %s with a sha256 (%d match %s in %s): a group's approval names what each stack restores; add .sha256 sidecars or roll %s back alone; nothing was changed",
					stack, v.Name, len(candidates), v.Pattern, plan.Target.Backups.Location(), stack), failure.NoGoodBackup, nil)
			}
			c := candidates[i]
			named[stack] = append(named[stack], c.Name+" "+c.SHA256)
			r.gate.backups = append(r.gate.backups, stack+":"+c.Name+" "+c.SHA256)
		}
	}
	return named, r.track.detail(api.StepApproval, "for "+strings.Join(r.gate.backups, ", "))
}
