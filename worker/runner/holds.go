package runner

import (
	"cmp"
	"context"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/holds"
)

// sweepHolds lets go, at start and then every o.HoldSweep, of the database holds whose
// backup run ended without its own release (terminated, timed out): a paused database
// must not wait for the next backup to run again.
func sweepHolds(ctx context.Context, c client.Client, o Options, probeSteps *probe.Activities) {
	isOpen := runOpen(c)
	open := func(ctx context.Context, id, runID string) (bool, error) { return isOpen(ctx, id+"/"+runID) }
	release := func(ctx context.Context, h holds.Hold) error {
		if h.Mode == "checkpoint" {
			_, err := probeSteps.CheckpointDatabase(ctx, probe.CheckpointInput{URL: h.DatabaseURL, Release: true})
			return err
		}
		_, err := o.Docker.ReleaseWrites(ctx, docker.HoldInput{Project: h.Project, Mode: h.Mode, Containers: h.Containers})
		return err
	}
	tick := time.NewTicker(cmp.Or(o.HoldSweep, time.Minute))
	defer tick.Stop()
	for {
		released, err := o.Holds.Sweep(ctx, time.Now(), open, release)
		if o.Logger != nil {
			for _, h := range released {
				o.Logger.Warn("let go of a hold whose backup ended without releasing it", "workflow", h.WorkflowID, "run", h.RunID, "mode", h.Mode, "held_since", h.At)
			}
			if err != nil && ctx.Err() == nil {
				o.Logger.Warn("release holds of ended backups; tried again later", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
