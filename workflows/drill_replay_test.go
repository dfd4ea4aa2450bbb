package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"

	"github.com/algotrendy/rewind/workflows/api"
)

// TestRecordedDrillHistoriesReplay replays what the integration suite recorded of drills
// (one that proved its backup, one that failed it) and of the full rollback that then
// skipped the failed backup, each under the ID it ran as.
func TestRecordedDrillHistoriesReplay(t *testing.T) {
	replayRecordedAs(t, "testdata/drill/*.json", func(h *historypb.History) string {
		start := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
		var req struct{ Stack string }
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(start.GetInput(), &req))
		require.NotEmpty(t, req.Stack)
		if start.GetWorkflowType().GetName() == api.DrillWorkflow {
			return api.DrillWorkflowID(req.Stack)
		}
		return api.WorkflowID(req.Stack)
	}, Drill, Full, Verify)
}
