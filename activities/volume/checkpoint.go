package volume

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"go.temporal.io/sdk/activity"
)

// Heartbeats are throttled by the SDK (to a fraction of the heartbeat timeout), so the
// details Temporal hands a retry can lag several batches behind. Long transfers therefore
// also keep their checkpoint in a file on the worker's host, written after every batch;
// the host-bound task queue brings the retry back to the same host.

// checkpointFile is where one activity's transfer keeps its progress.
func (a *Activities) checkpointFile(ctx context.Context, kind string, parts ...string) string {
	if a.StateDir == "" {
		return ""
	}
	h := sha256.New()
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		// The run ID keeps a later rollback of the same stack (same workflow ID, same
		// activity IDs) from taking an earlier run's progress for its own.
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	}
	for _, p := range parts {
		fmt.Fprintf(h, "%s\x00", p)
	}
	return filepath.Join(a.StateDir, kind+"-"+hex.EncodeToString(h.Sum(nil))[:24]+".json")
}
