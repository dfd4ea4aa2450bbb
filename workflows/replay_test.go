package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestRecordedHistoriesReplay replays rollbacks recorded by the integration suite (stack
// "demo") against today's code: a change that is not deterministic, or not behind
// workflow.GetVersion, fails here before it breaks a rollback in flight.
// Re-record with make record-histories.
func TestRecordedHistoriesReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "recorded histories in testdata")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file, err := os.Open(f)
			require.NoError(t, err)
			defer file.Close()
			history, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			require.NoError(t, err)
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(Emergency)
			r.RegisterWorkflow(Full)
			r.RegisterWorkflow(Verify)
			r.RegisterWorkflow(Quick)
			r.RegisterWorkflow(Git)
			// Child workflow IDs derive from the parent's, so replay under the recorded ID.
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, history, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: WorkflowID("demo"), RunID: "recorded"},
			}))
		})
	}
}
