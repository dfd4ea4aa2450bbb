// Package admission refuses, before it runs, every step no Rewind rollback asked for.
// Anyone with write access to the namespace can start an activity alone, or schedule one
// on Rewind's task queues from a workflow of their own; the worker answers only steps
// scheduled by Rewind's own workflows on Rewind's own task queue, for the stack their
// workflow ID names, and touching only what the worker's configuration names for it.
package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// Server is what the gate asks the Temporal server about the run that scheduled a step
// (client.Client is one).
type Server interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enumspb.HistoryEventFilterType) client.HistoryEventIterator
}

// Gate is the worker interceptor that admits steps.
type Gate struct {
	interceptor.WorkerInterceptorBase
	Temporal Server
	Config   *config.Config
	// Policy answers who may start and approve, from the worker's configuration and its
	// allowed signers as they are now, and claims signed starts' nonces.
	Policy *policy.Activities
	// Records keeps the admissions of runs (the evidence store every worker shares).
	Records storage.Store
	// Workflows are the workflow types this worker runs, by name, with how each names
	// the stack in its workflow ID.
	Workflows map[string]IDScheme
	// Since is when this worker started: a run started before it may carry a signed
	// start of the release before.
	Since time.Time

	mu sync.Mutex
	// queues are the task queues of executions already described, by run ID: a run
	// never changes its task queue, so each is asked once.
	queues map[string]string
	// admitted are the runs whose admission is on record, by run ID.
	admitted map[string]bool
}

// IDScheme reads the stack (or group) out of a workflow ID of one workflow type.
type IDScheme struct {
	Prefix, Suffix string
	// Group says the ID names a group of stacks, not one stack.
	Group bool
	// Changes says the workflow changes stacks (a rollback); a guard or a verification
	// only looks.
	Changes bool
	// Steps, when set, are the only steps the workflow may run: a backup, admitted at P1
	// without approval, holds writes and copies, and never restores, removes or deploys.
	Steps []string
	// Parse, when set, reads the name instead of Prefix and Suffix (a drill's ID may end
	// in the time its Schedule appended).
	Parse func(id string) (string, bool)
}

// parse returns the name the ID carries, if it fits the scheme.
func (s IDScheme) parse(id string) (string, bool) {
	if s.Parse != nil {
		return s.Parse(id)
	}
	name, ok := strings.CutPrefix(id, s.Prefix)
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, s.Suffix)
	return name, ok && name != ""
}

func (g *Gate) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &gatedActivity{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, gate: g}
}

type gatedActivity struct {
	interceptor.ActivityInboundInterceptorBase
	gate *Gate
}

func (a *gatedActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if err := a.gate.admit(ctx, activity.GetInfo(ctx), in.Args); err != nil {
		activity.GetLogger(ctx).Warn("refused a step no Rewind rollback asked for", "why", err)
		return nil, err
	}
	return a.Next.ExecuteActivity(ctx, in)
}

// admit says why a step may not run, or nil.
func (g *Gate) admit(ctx context.Context, info activity.Info, args []any) error {
	refuse := func(format string, a ...any) error {
		msg := fmt.Sprintf("%s refused: ", info.ActivityType.Name) + fmt.Sprintf(format, a...) + "; nothing was run. Start rollbacks with `rewind start`"
		return temporal.NewNonRetryableApplicationError(msg, failure.NotAdmitted, nil)
	}
	// A local activity runs only inside the workflow code of this very worker.
	if info.IsLocalActivity {
		return nil
	}
	if !info.IsWorkflowActivity() {
		return refuse("it was started alone, not by a Rewind rollback")
	}
	run := info.WorkflowExecution
	typ := ""
	if info.WorkflowType != nil {
		typ = info.WorkflowType.Name
	}
	scheme, ok := g.Workflows[typ]
	if !ok {
		return refuse("it was scheduled by %s, a workflow of type %q, which is not one of Rewind's", run.ID, typ)
	}
	if len(scheme.Steps) > 0 && !slices.Contains(scheme.Steps, info.ActivityType.Name) {
		return refuse("a %s workflow runs only %s", typ, strings.Join(scheme.Steps, ", "))
	}
	name, ok := scheme.parse(run.ID)
	if !ok {
		return refuse("workflow %s of type %s does not name a stack the way Rewind's do (%s<name>%s)", run.ID, typ, scheme.Prefix, scheme.Suffix)
	}
	queue, err := g.queueOf(ctx, run.ID, run.RunID)
	if err != nil {
		// Temporal may be restarting: the step is retried.
		return fmt.Errorf("describe workflow %s to admit %s: %w", run.ID, info.ActivityType.Name, err)
	}
	if queue != g.Config.Temporal.TaskQueue {
		return refuse("workflow %s runs on task queue %q, not Rewind's %q: its code is not Rewind's", run.ID, queue, g.Config.Temporal.TaskQueue)
	}
	var reach []Reach
	if scheme.Group {
		group, ok := g.Config.Groups[name]
		if !ok {
			return refuse("this worker's configuration has no group %q", name)
		}
		for _, stack := range group.Stacks {
			reach = append(reach, g.reach(stack, run.ID, run.RunID))
		}
	} else {
		if _, ok := g.Config.Stacks[name]; !ok {
			return refuse("this worker's configuration has no stack %q", name)
		}
		reach = append(reach, g.reach(name, run.ID, run.RunID))
	}
	for _, arg := range args {
		if err := within(arg, reach); err != nil {
			return refuse("workflow %s asked for %v", run.ID, err)
		}
	}
	if !destructive(info.ActivityType.Name) {
		return nil
	}
	if !scheme.Changes {
		return refuse("a %s workflow never changes a stack", typ)
	}
	err = g.onRecord(ctx, run.ID, run.RunID)
	var no refusal
	if errors.As(err, &no) {
		return refuse("the admission of %s run %s is not on record: %v", run.ID, run.RunID, no)
	}
	return err
}

// queueOf is the task queue the execution's workflow tasks run on, as the server says.
func (g *Gate) queueOf(ctx context.Context, workflowID, runID string) (string, error) {
	g.mu.Lock()
	queue, ok := g.queues[runID]
	g.mu.Unlock()
	if ok {
		return queue, nil
	}
	d, err := g.Temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return "", err
	}
	queue = d.GetExecutionConfig().GetTaskQueue().GetName()
	if queue == "" {
		queue = d.GetWorkflowExecutionInfo().GetTaskQueue()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.queues == nil || len(g.queues) > 4096 {
		g.queues = map[string]string{}
	}
	g.queues[runID] = queue
	return queue, nil
}

// reach is what the worker's configuration lets one run touch of one stack.
func (g *Gate) reach(stack, workflowID, runID string) Reach {
	c := g.Config
	r := Reach{
		Stack: stack, Target: c.Stacks[stack], Compose: c.Compose.Command,
		WorkflowID: workflowID, RunID: runID,
	}
	for _, dir := range []string{r.Target.Backups.Dir, c.Worker.StateDir, c.Evidence.Dir} {
		if dir != "" {
			r.Folders = append(r.Folders, dir)
		}
	}
	r.Folders = slices.Compact(r.Folders)
	for name, group := range c.Groups {
		if slices.Contains(group.Stacks, stack) {
			r.Groups = append(r.Groups, api.GroupWorkflowID(name))
		}
	}
	return r
}
