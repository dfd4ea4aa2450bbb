package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/gitrepo"
)

// Steps of the quick and git rollbacks (runbook Options 1 and 3).
const (
	stepRemoveCtrs = "Remove the containers"
	stepRemoveImg  = "Remove the current image"
	stepStash      = "Stash local changes"
	stepCheckout   = "Check out the previous version"
	stepBuild      = "Build the image of that version"
)

// Quick is the runbook's Option 1: stop, remove, go back to the previous version's
// configuration and start it, no database change.
func Quick(ctx workflow.Context, in Request) (Result, error) {
	return codeRollback(ctx, in, false)
}

// Git is the runbook's Option 3: stash local changes, check out a tag or commit (or reset),
// rebuild the image from that version and start it.
func Git(ctx workflow.Context, in Request) (Result, error) {
	return codeRollback(ctx, in, true)
}

func codeRollback(ctx workflow.Context, in Request, rebuild bool) (res Result, err error) {
	steps := []string{stepChecklist, stepApproval, stepStopAll, stepRemoveCtrs, stepRemoveImg, stepCheckout, stepUp, stepHealthy, stepVerify, stepArchive}
	if rebuild {
		steps = []string{stepChecklist, stepApproval, stepStopAll, stepStash, stepCheckout, stepBuild, stepUp, stepHealthy, stepVerify, stepArchive}
	}
	r, err := newRollback(ctx, in, steps...)
	if err != nil {
		return Result{}, err
	}
	if in.Target.WorkingDir == "" {
		return r.failed(temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("stack %s has no working_dir; quick and git rollbacks move its git checkout", in.Stack), docker.ErrBadInput, nil))
	}
	var d *docker.Activities
	var g *gitrepo.Activities
	dir := in.Target.WorkingDir
	ref := in.Ref
	if ref == "" {
		ref = "previous-tag"
	}

	if err := r.checklist(stepChecklist); err != nil {
		return r.failed(err)
	}
	if err := r.awaitApproval(stepApproval); err != nil {
		return r.failed(err)
	}
	// Pin the version before anything moves, so a retry goes to the same commit.
	var target gitrepo.Resolved
	if err := r.exec(stepCheckout, g.Resolve, gitrepo.ResolveInput{Dir: dir, Ref: ref}, &target); err != nil {
		return r.failed(r.stepFailed(stepCheckout, err))
	}

	var undo struct {
		stopped, moved bool
	}
	defer func() {
		if err != nil && temporal.IsCanceledError(err) && undo.stopped {
			back, _ := workflow.NewDisconnectedContext(r.ctx)
			br := &rollback{ctx: back, in: r.in, track: r.track, prefix: r.prefix}
			if undo.moved {
				var res gitrepo.Resolved
				_ = br.exec("Put back", g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: target.Head, Reset: in.Reset}, &res)
			}
			_ = br.composeUp("Put the stack back as it was")
		}
	}()

	var stopped docker.StopResult
	if err := r.run(stepStopAll, d.StopProject, docker.StopInput{Project: in.Target.Project, Grace: in.Target.StopGrace}, &stopped,
		func() string { return fmt.Sprintf("%d stopped, %d killed", len(stopped.Stopped), len(stopped.Killed)) }); err != nil {
		return r.failed(err)
	}
	undo.stopped = true

	if rebuild {
		var stash gitrepo.Stash
		label := "rewind: " + workflow.GetInfo(ctx).WorkflowExecution.ID + " " + workflow.GetInfo(ctx).WorkflowExecution.RunID
		if err := r.run(stepStash, g.StashChanges, gitrepo.StashInput{Dir: dir, Label: label}, &stash, func() string {
			if !stash.Stashed {
				return "no local changes"
			}
			return fmt.Sprintf("stash %s %q (%s)", stash.Commit[:12], stash.Label, strings.Join(stash.Files, ", "))
		}); err != nil {
			return r.failed(err)
		}
	} else {
		var removed docker.RemoveResult
		if err := r.run(stepRemoveCtrs, d.RemoveContainers, docker.ProjectInput{Project: in.Target.Project}, &removed,
			func() string { return fmt.Sprintf("%d removed", len(removed.Removed)) }); err != nil {
			return r.failed(err)
		}
		if in.Target.Image == "" {
			r.track.finish(stepRemoveImg, StateSkipped, "no image configured for removal")
		} else if err := r.run(stepRemoveImg, d.RemoveImage, docker.ImageInput{Image: in.Target.Image}, &removed,
			func() string { return "removed " + strings.Join(removed.Removed, ", ") }); err != nil {
			return r.failed(err)
		}
	}

	var moved gitrepo.Resolved
	if err := r.run(stepCheckout, g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: target.Commit, Reset: in.Reset}, &moved,
		func() string { return fmt.Sprintf("%s (%s), was %s", target.Ref, target.Commit[:12], target.Head[:12]) }); err != nil {
		return r.failed(err)
	}
	undo.moved = true

	if rebuild {
		tag := in.Target.Build.Image + ":" + strings.NewReplacer("/", "-", "~", "-", "^", "-").Replace(target.Ref)
		var built docker.BuildResult
		if err := r.runFor(stepBuild, 0, d.BuildImage, docker.BuildInput{Context: dir, Dockerfile: in.Target.Build.Dockerfile, Tag: tag}, &built,
			func() string { return built.Tag + " " + built.ImageID }); err != nil {
			return r.failed(err)
		}
	}

	report, err := r.startAndVerify()
	if err != nil {
		return r.failed(err)
	}
	extra := []string{
		fmt.Sprintf("## Version\n\nChecked out %s (%s); the stack ran %s before.", target.Ref, target.Commit, target.Head),
		verificationSection(report),
	}
	if err := r.archiveIncident(stepArchive, extra); err != nil {
		return r.failed(err)
	}
	return r.completed("now running " + target.Ref), nil
}
