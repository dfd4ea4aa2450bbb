package workflows

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/gitrepo"
	"github.com/algotrendy/rewind/failure"
)

// Steps the code rollbacks (runbook Options 1 and 3) share.
const (
	stepResolve  = "Pin the version to go back to"
	stepKeep     = "Keep local changes (stash, recorded)"
	stepCheckout = "Check out the previous version"
)

// version is where a code rollback goes, pinned to a commit before anything moves, and
// what the move must leave alone.
type version struct {
	gitrepo.Resolved
	Move  gitrepo.Move
	Stash gitrepo.Stash
}

// codeRollbackAllowed refuses a code rollback of a stack without a checkout.
func (r *rollback) codeRollbackAllowed() error {
	if r.plan.Target.WorkingDir == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("stack %s has no working_dir; quick and git rollbacks move its git checkout", r.req.Stack), failure.BadInput, nil)
	}
	return nil
}

// resolveVersion pins --to (default: the tag before the deployed one) to a commit, so a
// retried checkout goes to the same place, and checks, before anything changes, that the
// move would not touch the folders the stack bind-mounts, its backups or Rewind's files,
// nor overwrite files git does not track.
func (r *rollback) resolveVersion(v *version) error {
	return r.step(stepResolve, func() (string, error) {
		var g *gitrepo.Activities
		var d *docker.Activities
		t := r.plan.Target
		in := gitrepo.ResolveInput{Dir: t.WorkingDir, Ref: cmp.Or(r.req.Ref, "previous-tag")}
		if err := r.exec(quick, g.Resolve, in, &v.Resolved); err != nil {
			return "", err
		}
		var mounts docker.Mounts
		if err := r.exec(quick, d.ProjectMounts, docker.ProjectInput{Project: t.Project}, &mounts); err != nil {
			return "", err
		}
		protected := append(slices.Clone(r.plan.Protected), mounts.HostPaths...)
		if err := r.exec(quick, g.CheckMove, gitrepo.CheckMoveInput{Dir: t.WorkingDir, Commit: v.Commit, Protected: protected}, &v.Move); err != nil {
			return "", err
		}
		detail := fmt.Sprintf("%s (%.12s), running %.12s; %d files change", v.Ref, v.Commit, v.Head, v.Move.Changed)
		if len(v.Move.Protected) > 0 {
			detail += "; left alone: " + strings.Join(v.Move.Protected, ", ")
		}
		return detail, nil
	})
}

// keepLocalChanges stashes edits made on the server under a name that carries this run,
// so nothing is discarded without a record; a failure later applies them again.
func (r *rollback) keepLocalChanges(v *version) error {
	return r.step(stepKeep, func() (string, error) {
		var g *gitrepo.Activities
		dir := r.plan.Target.WorkingDir
		info := workflow.GetInfo(r.ctx).WorkflowExecution
		in := gitrepo.StashInput{Dir: dir, Label: "rewind: " + info.ID + " " + info.RunID, Exclude: v.Move.Protected}
		if err := r.exec(building, g.StashChanges, in, &v.Stash); err != nil {
			return "", err
		}
		if !v.Stash.Stashed {
			return "no local changes", nil
		}
		stash := v.Stash
		r.changed("local changes applied again", func(ctx workflow.Context) error {
			var res gitrepo.Stash
			return r.execIn(ctx, building, g.ApplyStash, gitrepo.ApplyInput{Dir: dir, Commit: stash.Commit}, &res)
		})
		r.sections = append(r.sections, stashSection(stash))
		return fmt.Sprintf("stash %.12s %q (%s)", stash.Commit, stash.Label, strings.Join(stash.Files, ", ")), nil
	})
}

func stashSection(s gitrepo.Stash) string {
	return fmt.Sprintf("## Local changes\n\nStashed as %s (%q): %s.\nGet them back in the stack's checkout with `git stash apply %s`.",
		s.Commit, s.Label, strings.Join(s.Files, ", "), s.Commit)
}

// checkout moves the checkout to the pinned commit; a failure moves it back.
func (r *rollback) checkout(v *version) error {
	return r.step(stepCheckout, func() (string, error) {
		var g *gitrepo.Activities
		dir := r.plan.Target.WorkingDir
		var moved gitrepo.Resolved
		head := v.Head
		r.changed("checkout back at "+head[:min(12, len(head))], func(ctx workflow.Context) error {
			var res gitrepo.Resolved
			return r.execIn(ctx, building, g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: head, Reset: r.req.Reset}, &res)
		})
		if err := r.exec(building, g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: v.Commit, Reset: r.req.Reset}, &moved); err != nil {
			return "", err
		}
		r.sections = append(r.sections, fmt.Sprintf("## Version\n\nChecked out %s (%s); the stack ran %s before.", v.Ref, v.Commit, v.Head))
		return fmt.Sprintf("%s (%.12s), was %.12s", v.Ref, v.Commit, v.Head), nil
	})
}

// removeContainers is the runbook's `docker-compose rm -f`; compose up makes them again.
func (r *rollback) removeContainers() error {
	return r.step(stepRemoveCtrs, func() (string, error) {
		var d *docker.Activities
		var removed docker.RemoveResult
		err := r.exec(quick, d.RemoveContainers, docker.ProjectInput{Project: r.plan.Target.Project}, &removed)
		return fmt.Sprintf("%d removed", len(removed.Removed)), err
	})
}
