package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/workflows/api"
)

// openRollbacks asks the server, as retention is about to remove a backup, whether a run
// is open under the stack's rollback workflow ID or a group's that holds the stack. Any
// open run counts, whatever its type: keeping a backup one more time is never wrong.
func openRollbacks(c client.Client, cfg *config.Config) volume.OpenRollbacks {
	return func(ctx context.Context, stack string) (string, error) {
		ids := []string{api.WorkflowID(stack)}
		for _, name := range cfg.GroupNames() {
			if slices.Contains(cfg.Groups[name].Stacks, stack) {
				ids = append(ids, api.GroupWorkflowID(name))
			}
		}
		for _, id := range ids {
			d, err := c.DescribeWorkflowExecution(ctx, id, "")
			if _, ok := errors.AsType[*serviceerror.NotFound](err); ok {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("describe workflow %s: %w", id, err)
			}
			if info := d.GetWorkflowExecutionInfo(); info.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
				return id + " run " + info.GetExecution().GetRunId(), nil
			}
		}
		return "", nil
	}
}
