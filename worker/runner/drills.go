package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/workflows/api"
)

// ensureDrillSchedules runs EnsureDrillSchedules until it succeeds, backing off between
// tries: a Schedule API that fails must not stop the worker, whose rollbacks matter more
// than its drills.
func ensureDrillSchedules(ctx context.Context, c client.Client, o Options) {
	wait := time.Second
	for {
		err := EnsureDrillSchedules(ctx, c, o.Policy.Config, o.Host)
		if err == nil || ctx.Err() != nil {
			return
		}
		if o.Logger != nil {
			o.Logger.Warn("drill schedules not brought up to date; trying again", "in", wait, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Minute)
	}
}

// runOpen asks Temporal whether a run (workflow ID/run ID) is still open.
func runOpen(c client.Client) drill.OpenFunc {
	return func(ctx context.Context, run string) (bool, error) {
		id, runID, _ := strings.Cut(run, "/")
		res, err := c.DescribeWorkflowExecution(ctx, id, runID)
		var gone *serviceerror.NotFound
		if errors.As(err, &gone) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return res.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
	}
}

// sweepDrills removes at start what drills of closed runs of this worker's stacks left on
// this host (a terminated drill's throwaway database, network and volumes).
func sweepDrills(ctx context.Context, o Options) {
	var projects []string
	for _, name := range o.Policy.Config.StackNames() {
		if st := o.Policy.Config.Stacks[name]; st.Host == "" || st.Host == o.Host {
			projects = append(projects, st.Project)
		}
	}
	gone, err := drill.Sweep(ctx, o.Drill, projects)
	if o.Logger == nil {
		return
	}
	if len(gone.Containers)+len(gone.Networks)+len(gone.Volumes) > 0 {
		o.Logger.Warn("removed what closed drills left", "containers", gone.Containers, "networks", gone.Networks, "volumes", gone.Volumes)
	}
	if err != nil && ctx.Err() == nil {
		o.Logger.Warn("remove what closed drills left; tried again by the next drill of the stack", "error", err)
	}
}

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
			Note: fmt.Sprintf(noteMark+"the newest backup of %s restored and checked every %s (drill.every)", name, s.Drill.Every),
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
	return removeOrphanSchedules(ctx, sc, cfg)
}

// removeOrphanSchedules deletes the drill Schedules Rewind made for stacks no longer in
// the configuration: its ID scheme, its note and the Drill workflow say Rewind made it.
func removeOrphanSchedules(ctx context.Context, sc client.ScheduleClient, cfg *config.Config) error {
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules to remove drills of stacks no longer configured: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("list schedules to remove drills of stacks no longer configured: %w", err)
		}
		if !orphanDrill(e, cfg) {
			continue
		}
		err = sc.GetHandle(ctx, e.ID).Delete(ctx)
		var missing *serviceerror.NotFound
		if err != nil && !errors.As(err, &missing) {
			return fmt.Errorf("remove the drill schedule %s (its stack is no longer configured): %w", e.ID, err)
		}
	}
	return nil
}

// orphanDrill says the Schedule is one Rewind made for a stack the configuration lacks.
func orphanDrill(e *client.ScheduleListEntry, cfg *config.Config) bool {
	stack, ok := api.DrillStack(e.ID)
	if !ok || e.ID != api.DrillScheduleID(stack) || e.WorkflowType.Name != api.DrillWorkflow || !strings.HasPrefix(e.Note, noteMark) {
		return false
	}
	_, configured := cfg.Stacks[stack]
	return !configured
}

// noteMark begins the note of every Schedule Rewind makes.
const noteMark = "Rewind: "

// DrillSteps are the only steps a Drill run may schedule.
func DrillSteps() []string {
	return []string{"ListBackups", "DownloadBackup", "RestoreForDrill", "StartThrowaway", "CheckThrowaway", "RecordDrill", "RemoveDrill", "Drills", "Notify"}
}
