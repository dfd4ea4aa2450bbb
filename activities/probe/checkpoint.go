package probe

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/holds"
)

// CheckpointInput is the database whose own checkpoint a backup holds: QuestDB's
// CHECKPOINT CREATE, during which it keeps taking writes and its files on disk stay a
// consistent image of what it had committed, until CHECKPOINT RELEASE.
type CheckpointInput struct {
	URL     string
	Release bool
}

// Checkpointed says when the database answered, by this host's clock.
type Checkpointed struct {
	At time.Time
}

// CheckpointDatabase sends CHECKPOINT CREATE (or RELEASE) over the database's HTTP /exec.
// Releasing none is done, so a release on every path does no harm; creating one already in
// place is done only on a retry (after a crash between CREATE and its answer): on a first
// attempt it is a checkpoint from before this backup, whose files are not today's.
func (a *Activities) CheckpointDatabase(ctx context.Context, in CheckpointInput) (Checkpointed, error) {
	if isPostgres(in.URL) || in.URL == "" {
		return Checkpointed{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("database %q takes no CHECKPOINT CREATE over HTTP; set the stack's backups.consistency to pause or stop", in.URL), failure.BadInput, nil)
	}
	statement := "CHECKPOINT CREATE"
	if in.Release {
		statement = "CHECKPOINT RELEASE"
	}
	var id, runID string
	var until time.Time
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		id, runID, until = info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.Deadline
	}
	if !in.Release {
		if err := a.Holds.Put(holds.Hold{WorkflowID: id, RunID: runID, Mode: "checkpoint", DatabaseURL: in.URL, At: time.Now(), Until: until}); err != nil {
			return Checkpointed{}, err
		}
	}
	err := Exec(ctx, a.client(), in.URL, statement)
	if err != nil && !in.Release && strings.Contains(strings.ToLower(err.Error()), "already") {
		if !activity.IsActivity(ctx) || activity.GetInfo(ctx).Attempt <= 1 {
			return Checkpointed{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("database %s was already in checkpoint mode before this backup (an earlier backup stopped by hand?): a copy now would hold that checkpoint's data; this backup releases it, then take the backup again", in.URL), failure.StepFailed, nil)
		}
		err = nil
	}
	if err != nil && in.Release && strings.Contains(strings.ToLower(err.Error()), "not in checkpoint") {
		err = nil
	}
	if err != nil {
		return Checkpointed{}, fmt.Errorf("%s at %s: %w", statement, in.URL, err)
	}
	if in.Release && id != "" { // a sweep, not a run, drops what it released itself
		if err := a.Holds.Drop(id, runID); err != nil {
			return Checkpointed{}, fmt.Errorf("forget the released checkpoint: %w", err)
		}
	}
	return Checkpointed{At: time.Now()}, nil
}
