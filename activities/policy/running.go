package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
)

// ExecutionInput names a workflow execution to look up on the server; RunID "" is its
// latest run. When the execution runs one of Types on TaskQueue, ProgressQuery is asked of
// it too: that answer comes from Rewind's own workflow code, which no starter can write.
type ExecutionInput struct {
	WorkflowID    string
	RunID         string `json:",omitempty"`
	Types         []string
	TaskQueue     string
	ProgressQuery string `json:",omitempty"`
	// Stack, when set, also accepts a running rollback of a group of the worker's
	// configuration that holds the stack, when WorkflowID runs nothing: GroupIDPrefix
	// and the group's name are its workflow ID, GroupType its type.
	Stack         string `json:",omitempty"`
	GroupIDPrefix string `json:",omitempty"`
	GroupType     string `json:",omitempty"`
}

// Execution is what the server says of an execution, and what it says of itself.
type Execution struct {
	Found      bool
	WorkflowID string `json:",omitempty"`
	RunID      string `json:",omitempty"`
	Type       string `json:",omitempty"`
	Queue      string `json:",omitempty"`
	Status     string `json:",omitempty"`
	Running    bool
	// Ours says the execution runs one of the asked types on the asked queue.
	Ours bool
	// Summary and Phase are its answer to the progress query, when it is ours and running.
	Summary string `json:",omitempty"`
	Phase   string `json:",omitempty"`
}

// queryTimeout bounds the progress query: a workflow whose worker is gone does not answer.
const queryTimeout = 10 * time.Second

// Execution describes a workflow execution through the worker's own Temporal client, so a
// workflow learns what the server holds rather than what a caller told it. It only reads.
func (a *Activities) Execution(ctx context.Context, in ExecutionInput) (Execution, error) {
	c := activity.GetClient(ctx)
	out, err := describe(ctx, c, in.WorkflowID, in.RunID, in.Types, in.TaskQueue, in.ProgressQuery)
	if err != nil || out.Running || in.Stack == "" || in.GroupIDPrefix == "" {
		return out, err
	}
	for _, name := range a.Config.GroupNames() {
		if !slices.Contains(a.Config.Groups[name].Stacks, in.Stack) {
			continue
		}
		group, err := describe(ctx, c, in.GroupIDPrefix+name, "", []string{in.GroupType}, in.TaskQueue, in.ProgressQuery)
		if err != nil {
			return Execution{}, err
		}
		if group.Running {
			return group, nil
		}
	}
	return out, nil
}

func describe(ctx context.Context, c client.Client, workflowID, runID string, types []string, queue, query string) (Execution, error) {
	d, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return Execution{WorkflowID: workflowID}, nil
	}
	if err != nil {
		return Execution{}, fmt.Errorf("describe workflow %s: %w", workflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	out := Execution{
		Found:      true,
		WorkflowID: workflowID,
		RunID:      info.GetExecution().GetRunId(),
		Type:       info.GetType().GetName(),
		Queue:      info.GetTaskQueue(),
		Status:     info.GetStatus().String(),
		Running:    info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
	out.Ours = slices.Contains(types, out.Type) && out.Queue == queue
	if !out.Running || !out.Ours || query == "" {
		return out, nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, workflowID, out.RunID, query)
	if err != nil {
		return Execution{}, fmt.Errorf("query the progress of %s run %s: %w", workflowID, out.RunID, err)
	}
	var progress struct{ Summary, Phase string }
	if err := v.Get(&progress); err != nil {
		return Execution{}, fmt.Errorf("read the progress of %s run %s: %w", workflowID, out.RunID, err)
	}
	out.Summary, out.Phase = progress.Summary, progress.Phase
	return out, nil
}
