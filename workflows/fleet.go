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

	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
)

// groupIDPrefix starts the ID of a group rollback; stacks may not be named group-….
const groupIDPrefix = workflowIDPrefix + "group-"

// GroupWorkflowID is the one ID a group's rollback runs under.
func GroupWorkflowID(group string) string { return groupIDPrefix + group }

// ErrGroupFailed: one or more stacks of a group rollback failed.
const ErrGroupFailed = "GroupFailed"

// FleetWorkflow is the workflow type of a group rollback.
const FleetWorkflow = "Fleet"

// Fleet rolls back a group of stacks on their own hosts (`rewind start … --group`): one
// request and one approval for the group, then each stack's rollback as a child workflow
// on the task queue its host's worker polls, as many at once as the group allows. A stack
// that fails stops the ones not started yet, unless the group says continue; the ones
// already running finish (or put their stack back) on their own.
func Fleet(ctx workflow.Context, req Request) (Result, error) {
	t, err := newTracker(ctx, fmt.Sprintf("%s rollback of group %s, %s, by %s: %s", req.Option, req.Group, req.Severity, req.Requester, req.Reason), stepApproval)
	if err != nil {
		return Result{}, err
	}
	info := workflow.GetInfo(ctx).WorkflowExecution
	asked := req
	req.Stack = "group " + req.Group
	r := &rollback{ctx: ctx, req: req, asked: asked, track: t,
		prefix: evidence.Prefix(workflow.Now(ctx).UTC().Format("20060102"), info.ID, info.RunID),
		result: Result{Stack: req.Stack, Option: req.Option}}
	if r.gate, err = newGate(r); err != nil {
		return Result{}, err
	}
	var group config.GroupPlan
	if err := r.resolveGroup(&group); err != nil {
		t.end("failed", message(err))
		return Result{}, err
	}
	for _, s := range group.Stacks {
		t.step(fleetStep(s, group.Hosts[s]))
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
	failed := r.rollBackEach(group, decision)
	if len(failed) > 0 {
		// Each failed stack was put back by its own rollback, which says how.
		msg := fmt.Sprintf("%d of %d stacks of group %s failed: %s", len(failed), len(group.Stacks), group.Group, strings.Join(failed, "; "))
		t.end("failed", msg)
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		r.notifyIn(dctx, notify.Event{Kind: notify.KindFailed, Outcome: "failed", Detail: msg})
		return Result{}, temporal.NewNonRetryableApplicationError(msg, ErrGroupFailed, nil)
	}
	return r.end(nil, fmt.Sprintf("rolled back %s", strings.Join(group.Stacks, ", ")))
}

// resolveGroup asks the worker's configuration for the group's stacks and policy and
// admits the requester, as a single rollback does.
func (r *rollback) resolveGroup(group *config.GroupPlan) error {
	var p *policy.Activities
	ctx := workflow.WithLocalActivityOptions(r.ctx, workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 30 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	if err := workflow.ExecuteLocalActivity(ctx, p.GroupPlan, policy.GroupInput{Group: r.req.Group, Severity: r.req.Severity}).Get(ctx, group); err != nil {
		return err
	}
	if _, ok := WorkflowName(r.req.Option); !ok {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("unknown option %q: want one of %s", r.req.Option, strings.Join(Options(), ", ")), ErrBadInput, nil)
	}
	r.plan = config.Plan{Stack: r.req.Stack, Policy: group.Policy}
	return r.admit()
}

// rollBackEach runs the stacks' rollbacks as children and returns what failed.
func (r *rollback) rollBackEach(group config.GroupPlan, decision string) (failed []string) {
	ctx := r.ctx
	name, _ := WorkflowName(r.req.Option)
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
			cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
				WorkflowID:            WorkflowID(stack),
				TaskQueue:             workflow.GetInfo(ctx).TaskQueueName,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				// Cancelling the group cancels each stack's rollback, which puts it back.
				ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
				StaticSummary:     fmt.Sprintf("%s rollback of %s, %s, by %s (group %s)", r.req.Option, stack, r.req.Severity, r.req.Requester, group.Group),
				TypedSearchAttributes: temporal.NewSearchAttributes(
					StackKey.ValueSet(stack), OptionKey.ValueSet(r.req.Option),
					SeverityKey.ValueSet(r.req.Severity), PhaseKey.ValueSet("starting"),
				),
			})
			r.track.start(step)
			r.track.step(step).Detail = "rolling back as " + WorkflowID(stack)
			r.track.publish()
			running++
			wait.AddFuture(workflow.ExecuteChildWorkflow(cctx, name, child), func(f workflow.Future) {
				running--
				var res Result
				if err := f.Get(ctx, &res); err != nil {
					failed = append(failed, stack+": "+message(err))
					r.track.finish(step, StateFailed, message(err))
					return
				}
				r.track.finish(step, StateDone, res.Outcome)
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
	ctx := workflow.WithActivityOptions(r.ctx, workflow.ActivityOptions{
		TaskQueue: info.TaskQueueName, StartToCloseTimeout: 30 * time.Second,
		ScheduleToStartTimeout: noWorkerAfter, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var ran policy.Execution
	if err := workflow.ExecuteActivity(ctx, p.Execution, policy.ExecutionInput{
		WorkflowID: parent.ID, RunID: parent.RunID, Types: []string{FleetWorkflow}, TaskQueue: info.TaskQueueName,
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
	return r.req.Group != "" && r.req.GroupDecision != "" && parent != nil && parent.ID == GroupWorkflowID(r.req.Group)
}
