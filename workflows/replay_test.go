package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/workflows/api"
)

// TestRecordedHistoriesReplay replays rollbacks recorded by the integration suite (stack
// "demo") against today's code: a change that is not deterministic, or not behind
// workflow.GetVersion, fails here before it breaks a rollback in flight.
// Re-record with make record-histories.
func TestRecordedHistoriesReplay(t *testing.T) {
	replayRecorded(t, "testdata/*.json", api.WorkflowID("demo"), Emergency, Full, Verify, Quick, Git)
}

// TestRecordedVerifyHistoriesReplay replays the verification child of a recorded full
// rollback (stack "demo").
func TestRecordedVerifyHistoriesReplay(t *testing.T) {
	replayRecorded(t, "testdata/verify/*.json", api.VerifyWorkflowID(api.WorkflowID("demo")), Verify)
}

// TestRecordedFleetHistoriesReplay replays group rollbacks recorded by the integration
// suite (group "trading", three stacks on three hosts).
func TestRecordedFleetHistoriesReplay(t *testing.T) {
	replayRecorded(t, "testdata/fleet/*.json", api.GroupWorkflowID("trading"), Fleet)
}

// TestRecordedBackupHistoriesReplay replays backups recorded by the integration suite, one
// per consistency mode, each under the ID of the stack it backed up.
func TestRecordedBackupHistoriesReplay(t *testing.T) {
	replayRecordedAs(t, "testdata/backup/*.json", func(h *historypb.History) string {
		var req api.BackupRequest
		input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(input, &req))
		require.NotEmpty(t, req.Stack)
		return api.BackupWorkflowID(req.Stack)
	}, Backup)
}

// replayRecorded replays every history the glob finds with the given workflows registered,
// under the ID it was recorded with (child workflow IDs derive from the parent's).
func replayRecorded(t *testing.T, glob, id string, registered ...any) {
	t.Helper()
	replayRecordedAs(t, glob, func(*historypb.History) string { return id }, registered...)
}

// replayRecordedAs is replayRecorded with the ID read from each history.
func replayRecordedAs(t *testing.T, glob string, idOf func(*historypb.History) string, registered ...any) {
	t.Helper()
	files, err := filepath.Glob(glob)
	require.NoError(t, err)
	require.NotEmpty(t, files, "recorded histories in %s", glob)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			file, err := os.Open(f)
			require.NoError(t, err)
			defer file.Close()
			history, err := client.HistoryFromJSON(file, client.HistoryJSONOptions{})
			require.NoError(t, err)
			r := worker.NewWorkflowReplayer()
			for _, w := range registered {
				r.RegisterWorkflow(w)
			}
			require.NoError(t, r.ReplayWorkflowHistoryWithOptions(nil, history, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: idOf(history), RunID: "recorded"},
			}))
		})
	}
}
