package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
)

// Steps of the emergency stop, in the runbook's order (Option 4).
const (
	stepCapture = "Capture ps, logs and stats"
	stepStop    = "Stop containers (kill after grace period)"
	stepRemove  = "Remove containers"
	stepPrune   = "Prune the project's networks"
	stepRecord  = "Record the emergency stop"
	stepNotify  = "Notify the team"
)

// OfflineNotice is what an emergency stop leaves people with.
const OfflineNotice = "offline — investigate before restart"

// Emergency is the runbook's Option 4: stop the stack now, leave it offline, tell people.
// It asks no approval: the runbook uses it when stability is at risk.
func Emergency(ctx workflow.Context, in Request) (Result, error) {
	r, err := newRollback(ctx, in, stepCapture, stepStop, stepRemove, stepPrune, stepRecord, stepNotify)
	if err != nil {
		return Result{}, err
	}
	var d *docker.Activities
	var e *evidence.Activities
	var n *notify.Activities
	project := docker.ProjectInput{Project: in.Target.Project}

	var captured docker.CaptureResult
	if err := r.run(stepCapture, d.CaptureState, docker.CaptureInput{Project: in.Target.Project, Prefix: r.evidence("checklist")}, &captured,
		func() string {
			return fmt.Sprintf("%d containers, %d files", len(captured.Containers), len(captured.Files))
		}); err != nil {
		return r.failed(err)
	}
	r.result.Evidence = append(r.result.Evidence, captured.Files...)

	var stopped docker.StopResult
	if err := r.run(stepStop, d.StopProject, docker.StopInput{Project: in.Target.Project, Grace: in.Target.StopGrace}, &stopped,
		func() string {
			return fmt.Sprintf("%d stopped, %d killed, %d already stopped", len(stopped.Stopped), len(stopped.Killed), len(stopped.AlreadyStopped))
		}); err != nil {
		return r.failed(err)
	}

	var removed docker.RemoveResult
	if err := r.run(stepRemove, d.RemoveContainers, project, &removed,
		func() string { return fmt.Sprintf("%d removed", len(removed.Removed)) }); err != nil {
		return r.failed(err)
	}

	var pruned docker.RemoveResult
	if err := r.run(stepPrune, d.PruneNetworks, project, &pruned,
		func() string { return strings.Join(pruned.Removed, ", ") }); err != nil {
		return r.failed(err)
	}

	note := fmt.Sprintf("EMERGENCY STOP executed at %s\nstack: %s\nrequested by: %s\nreason: %s\nstopped: %s\nkilled: %s\n%s\n",
		workflow.Now(ctx).UTC().Format(time.RFC3339), in.Stack, in.Requester, in.Reason,
		strings.Join(stopped.Stopped, ", "), strings.Join(stopped.Killed, ", "), OfflineNotice)
	var notePath string
	if err := r.run(stepRecord, e.Note, evidence.NoteInput{Name: r.evidence("emergency_stop.log"), Text: note}, &notePath,
		func() string { return notePath }); err != nil {
		return r.failed(err)
	}
	r.result.Evidence = append(r.result.Evidence, notePath)

	var sent notify.Result
	msg := notify.Message{Subject: fmt.Sprintf("EMERGENCY STOP of %s: %s", in.Stack, OfflineNotice), Text: note}
	if err := r.run(stepNotify, n.Send, msg, &sent,
		func() string { return strings.Join(sent.Delivered, ", ") }); err != nil {
		return r.failed(err)
	}

	return r.completed(OfflineNotice), nil
}
