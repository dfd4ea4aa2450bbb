package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/notify"
)

// Steps of the emergency stop (runbook Option 4).
const (
	stepStopNow = "Stop containers (kill after grace period)"
	stepCapture = "Capture ps, logs and stats (best effort)"
	stepPrune   = "Prune the project's networks"
	stepRecord  = "Record the emergency stop"
	stepNotify  = "Notify the team"
)

// captureLimit bounds the evidence capture of an emergency stop: stopping never waits on it.
const captureLimit = 30 * time.Second

// Emergency is the runbook's Option 4: stop the stack now, leave it offline, tell people.
// It waits for no approval, but its requester needs the on-call role. Evidence is captured
// beside the stop, never before it, and only as long as the containers still exist.
func Emergency(ctx workflow.Context, req Request) (Result, error) {
	r, err := begin(ctx, req, Steps(OptionEmergency)...)
	if err != nil {
		return Result{}, err
	}
	var stopped docker.StopResult
	captured := r.captureBeside()
	err = do(
		func() error { return r.stopNow(&stopped) },
		func() error { return captured.Get(r.ctx, nil) },
		r.removeContainers,
		r.pruneNetworks,
		func() error { return r.recordEmergency(stopped) },
		r.notifyEmergency,
	)
	return r.end(err, OfflineNotice)
}

// captureBeside starts capturing ps, logs and stats while the stop runs; a capture that
// fails or takes too long is recorded as missing.
func (r *rollback) captureBeside() workflow.Future {
	f, set := workflow.NewFuture(r.ctx)
	workflow.Go(r.ctx, func(ctx workflow.Context) {
		_ = r.step(stepCapture, func() (string, error) {
			var d *docker.Activities
			var captured docker.CaptureResult
			ctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				TaskQueue: r.plan.HostQueue, Summary: stepCapture + " — " + r.req.Stack,
				ScheduleToCloseTimeout: captureLimit, HeartbeatTimeout: 10 * time.Second, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
			})
			if err := workflow.ExecuteActivity(ctx, d.CaptureState, docker.CaptureInput{Project: r.plan.Target.Project, Prefix: r.evidence("checklist")}, &captured).Get(ctx, &captured); err != nil {
				return "missing: " + message(err), nil
			}
			r.result.Evidence = append(r.result.Evidence, captured.Files...)
			return fmt.Sprintf("%d containers, %d files", len(captured.Containers), len(captured.Files)), nil
		})
		set.Set(nil, nil)
	})
	return f
}

func (r *rollback) stopNow(stopped *docker.StopResult) error {
	return r.step(stepStopNow, func() (string, error) {
		var d *docker.Activities
		if err := r.exec(stopping, d.StopProject, docker.StopInput{Project: r.plan.Target.Project, Grace: r.plan.Target.StopGracePeriod}, stopped); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d stopped, %d killed, %d already stopped", len(stopped.Stopped), len(stopped.Killed), len(stopped.AlreadyStopped)), nil
	})
}

func (r *rollback) pruneNetworks() error {
	return r.step(stepPrune, func() (string, error) {
		var d *docker.Activities
		var pruned docker.RemoveResult
		err := r.exec(quick, d.PruneNetworks, docker.ProjectInput{Project: r.plan.Target.Project}, &pruned)
		return strings.Join(pruned.Removed, ", "), err
	})
}

func (r *rollback) recordEmergency(stopped docker.StopResult) error {
	return r.step(stepRecord, func() (string, error) {
		note := fmt.Sprintf("EMERGENCY STOP executed at %s\nstack: %s\nrequested by: %s\nreason: %s\nstopped: %s\nkilled: %s\n%s\n",
			workflow.Now(r.ctx).UTC().Format(time.RFC3339), r.req.Stack, r.req.Requester, r.req.Reason,
			strings.Join(stopped.Stopped, ", "), strings.Join(stopped.Killed, ", "), OfflineNotice)
		return r.evidence("emergency_stop.log"), r.note("emergency_stop.log", note)
	})
}

func (r *rollback) notifyEmergency() error {
	return r.step(stepNotify, func() (string, error) {
		sent := r.notify(notify.Event{Kind: notify.KindEmergencyStop, Outcome: OfflineNotice})
		return sent.Summary(), nil
	})
}
