package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/workflows/api"
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
func Emergency(ctx workflow.Context, req api.Request) (api.Result, error) {
	table := emergencySteps()
	r, err := begin(ctx, req, linesOf(table)...)
	if err != nil {
		return api.Result{}, err
	}
	return r.end(runSteps(&emergencyStop{rollback: r}, table), api.OfflineNotice)
}

// emergencySteps are the emergency stop's steps, in the order they run.
func emergencySteps() []step[*emergencyStop] {
	return []step[*emergencyStop]{
		marking((*emergencyStop).stopWhileCapturing, stepStopNow, stepCapture),
		line(stepRemoveCtrs, (*emergencyStop).removeContainers),
		line(stepPrune, (*emergencyStop).pruneNetworks),
		line(stepRecord, (*emergencyStop).recordEmergency),
		line(stepNotify, (*emergencyStop).notifyEmergency),
	}
}

// emergencyStop is an emergency stop and what its stop stopped.
type emergencyStop struct {
	*rollback
	stopped docker.StopResult
}

// stopWhileCapturing stops the stack while ps, logs and stats are captured beside it, and
// waits for the capture before the containers are removed.
func (e *emergencyStop) stopWhileCapturing() error {
	captured := e.captureBeside()
	if err := e.step(stepStopNow, e.stopNow); err != nil {
		return err
	}
	return captured.Get(e.ctx, nil)
}

// captureBeside starts capturing ps, logs and stats while the stop runs; a capture that
// fails or takes too long is recorded as missing.
func (r *rollback) captureBeside() workflow.Future {
	f, set := workflow.NewFuture(r.ctx)
	workflow.Go(r.ctx, func(ctx workflow.Context) {
		_ = r.step(stepCapture, func() (string, error) {
			var d *docker.Activities
			var captured docker.CaptureResult
			ctx := workflow.WithActivityOptions(ctx, captureOptions(r.plan, stepCapture+" — "+r.req.Stack))
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

func (e *emergencyStop) stopNow() (string, error) {
	var d *docker.Activities
	if err := e.exec(stopping, d.StopProject, docker.StopInput{Project: e.plan.Target.Project, Grace: e.plan.Target.StopGracePeriod}, &e.stopped); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d stopped, %d killed, %d already stopped", len(e.stopped.Stopped), len(e.stopped.Killed), len(e.stopped.AlreadyStopped)), nil
}

func (r *rollback) pruneNetworks() (string, error) {
	var d *docker.Activities
	var pruned docker.RemoveResult
	err := r.exec(quick, d.PruneNetworks, docker.ProjectInput{Project: r.plan.Target.Project}, &pruned)
	return strings.Join(pruned.Removed, ", "), err
}

func (e *emergencyStop) recordEmergency() (string, error) {
	note := fmt.Sprintf("EMERGENCY STOP executed at %s\nstack: %s\nrequested by: %s\nreason: %s\nstopped: %s\nkilled: %s\n%s\n",
		workflow.Now(e.ctx).UTC().Format(time.RFC3339), e.req.Stack, e.req.Requester, e.req.Reason,
		strings.Join(e.stopped.Stopped, ", "), strings.Join(e.stopped.Killed, ", "), api.OfflineNotice)
	return e.evidence("emergency_stop.log"), e.note("emergency_stop.log", note)
}

func (r *rollback) notifyEmergency() (string, error) {
	sent := r.notify(notify.Event{Kind: notify.KindEmergencyStop, Outcome: api.OfflineNotice})
	return sent.Summary(), nil
}
