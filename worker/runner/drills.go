package runner

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/workflows/api"
)

// EnsureDrillSchedules makes the Temporal Schedule of each stack on this host say what
// its drill.every says: created when missing, brought up to date when it differs,
// removed when drills are off. Every worker of the host may run it at start; the outcome
// is the same.
func EnsureDrillSchedules(ctx context.Context, c client.Client, cfg *config.Config, host string) error {
	sc := c.ScheduleClient()
	for _, name := range cfg.StackNames() {
		s := cfg.Stacks[name]
		if s.Host != "" && s.Host != host {
			continue
		}
		id := api.DrillScheduleID(name)
		if s.Drill.Every <= 0 {
			err := sc.GetHandle(ctx, id).Delete(ctx)
			var missing *serviceerror.NotFound
			if err != nil && !errors.As(err, &missing) {
				return fmt.Errorf("remove the drill schedule %s (drill.every is off): %w", id, err)
			}
			continue
		}
		spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.Drill.Every}}}
		action := &client.ScheduleWorkflowAction{
			ID: api.DrillWorkflowID(name), Workflow: api.DrillWorkflow, TaskQueue: cfg.Temporal.TaskQueue,
			Args:                  []any{api.DrillRequest{Stack: name, By: "schedule"}},
			StaticSummary:         "restore drill of " + name,
			TypedSearchAttributes: temporal.NewSearchAttributes(api.StackKey.ValueSet(name), api.OptionKey.ValueSet(api.OptionDrill)),
		}
		_, err := sc.Create(ctx, client.ScheduleOptions{
			ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			Note: fmt.Sprintf("Rewind: the newest backup of %s restored and checked every %s (drill.every)", name, s.Drill.Every),
		})
		if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			if err != nil {
				return fmt.Errorf("create the drill schedule %s: %w", id, err)
			}
			continue
		}
		err = sc.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			sched.Spec, sched.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		}})
		if err != nil {
			return fmt.Errorf("update the drill schedule %s: %w", id, err)
		}
	}
	return nil
}

// DrillSteps are the only steps a Drill run may schedule.
func DrillSteps() []string {
	return []string{"ListBackups", "DownloadBackup", "RestoreForDrill", "StartThrowaway", "CheckThrowaway", "RecordDrill", "RemoveDrill", "Drills", "Notify"}
}
