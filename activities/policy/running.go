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
}

// Execution is what the server says of an execution, and what it says of itself.
type Execution struct {
	Found   bool
	RunID   string `json:",omitempty"`
	Type    string `json:",omitempty"`
	Queue   string `json:",omitempty"`
	Status  string `json:",omitempty"`
	Running bool
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
	d, err := c.DescribeWorkflowExecution(ctx, in.WorkflowID, in.RunID)
	if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
		return Execution{}, nil
	}
	if err != nil {
		return Execution{}, fmt.Errorf("describe workflow %s: %w", in.WorkflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	out := Execution{
		Found:   true,
		RunID:   info.GetExecution().GetRunId(),
		Type:    info.GetType().GetName(),
		Queue:   info.GetTaskQueue(),
		Status:  info.GetStatus().String(),
		Running: info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
	}
	out.Ours = slices.Contains(in.Types, out.Type) && out.Queue == in.TaskQueue
	if !out.Running || !out.Ours || in.ProgressQuery == "" {
		return out, nil
	}
	qctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, in.WorkflowID, out.RunID, in.ProgressQuery)
	if err != nil {
		return Execution{}, fmt.Errorf("query the progress of %s run %s: %w", in.WorkflowID, out.RunID, err)
	}
	var progress struct{ Summary, Phase string }
	if err := v.Get(&progress); err != nil {
		return Execution{}, fmt.Errorf("read the progress of %s run %s: %w", in.WorkflowID, out.RunID, err)
	}
	out.Summary, out.Phase = progress.Summary, progress.Phase
	return out, nil
}
