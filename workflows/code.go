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
	"github.com/algotrendy/rewind/gitref"
	"github.com/algotrendy/rewind/workflows/api"
)

// Steps the code rollbacks (runbook Options 1 and 3) share.
const (
	stepResolve  = "Pin the version to go back to"
	stepKeep     = "Keep local changes (stash, recorded)"
	stepCheckout = "Check out the previous version"
)

// codeRollback is a quick or git rollback and the version it goes to, once pinned.
type codeRollback struct {
	*rollback
	v version
}

// version is where a code rollback goes, pinned to a commit before anything moves, and
// what the move must leave alone.
type version struct {
	gitrepo.Resolved
	Move  gitrepo.Move
	Stash gitrepo.Stash
}

// codeRollbackOpens are the steps a quick and a git rollback both open with: until the
// stack is stopped and its local changes are kept.
func codeRollbackOpens() []step[*codeRollback] {
	return []step[*codeRollback]{
		line(stepChecklist, (*codeRollback).checklist),
		line(stepResolve, (*codeRollback).resolveVersion),
		line(api.StepApproval, (*codeRollback).approve),
		line(stepStop, (*codeRollback).stopStack),
		line(stepKeep, (*codeRollback).keepLocalChanges),
	}
}

// rollBackCode runs a quick or git rollback's table once the stack can take it: it has a
// checkout, and whatever else the option needs.
func rollBackCode(ctx workflow.Context, req api.Request, table []step[*codeRollback], needs ...func(*rollback) error) (api.Result, error) {
	r, err := begin(ctx, req, linesOf(table)...)
	if err != nil {
		return api.Result{}, err
	}
	c := &codeRollback{rollback: r}
	for _, allowed := range append([]func(*rollback) error{(*rollback).codeRollbackAllowed}, needs...) {
		if err := allowed(r); err != nil {
			return r.end(err, "")
		}
	}
	return r.end(runSteps(c, table), "now running "+c.v.Ref)
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
func (c *codeRollback) resolveVersion() (string, error) {
	var g *gitrepo.Activities
	var d *docker.Activities
	t := c.plan.Target
	in := gitrepo.ResolveInput{Dir: t.WorkingDir, Ref: cmp.Or(c.req.Ref, gitref.PreviousTag)}
	if err := c.exec(quick, g.Resolve, in, &c.v.Resolved); err != nil {
		return "", err
	}
	var mounts docker.Mounts
	if err := c.exec(quick, d.ProjectMounts, docker.ProjectInput{Project: t.Project}, &mounts); err != nil {
		return "", err
	}
	protected := append(slices.Clone(c.plan.Protected), mounts.HostPaths...)
	if err := c.exec(quick, g.CheckMove, gitrepo.CheckMoveInput{Dir: t.WorkingDir, Commit: c.v.Commit, Protected: protected}, &c.v.Move); err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%s (%.12s), running %.12s; %d files change", c.v.Ref, c.v.Commit, c.v.Head, c.v.Move.Changed)
	if len(c.v.Move.Protected) > 0 {
		detail += "; left alone: " + strings.Join(c.v.Move.Protected, ", ")
	}
	return detail, nil
}

// keepLocalChanges stashes edits made on the server under a name that carries this run,
// so nothing is discarded without a record; a failure later applies them again.
func (c *codeRollback) keepLocalChanges() (string, error) {
	var g *gitrepo.Activities
	dir := c.plan.Target.WorkingDir
	info := workflow.GetInfo(c.ctx).WorkflowExecution
	in := gitrepo.StashInput{Dir: dir, Label: "rewind: " + info.ID + " " + info.RunID, Exclude: c.v.Move.Protected}
	if err := c.exec(building, g.StashChanges, in, &c.v.Stash); err != nil {
		return "", err
	}
	if !c.v.Stash.Stashed {
		return "no local changes", nil
	}
	stash := c.v.Stash
	c.changed("local changes applied again", func(ctx workflow.Context) error {
		var res gitrepo.Stash
		return c.execIn(ctx, building, g.ApplyStash, gitrepo.ApplyInput{Dir: dir, Commit: stash.Commit}, &res)
	})
	c.sections = append(c.sections, stashSection(stash))
	return fmt.Sprintf("stash %.12s %q (%s)", stash.Commit, stash.Label, strings.Join(stash.Files, ", ")), nil
}

func stashSection(s gitrepo.Stash) string {
	return fmt.Sprintf("## Local changes\n\nStashed as %s (%q): %s.\nGet them back in the stack's checkout with `git stash apply %s`.",
		s.Commit, s.Label, strings.Join(s.Files, ", "), s.Commit)
}

// checkout moves the checkout to the pinned commit; a failure moves it back.
func (c *codeRollback) checkout() (string, error) {
	var g *gitrepo.Activities
	dir := c.plan.Target.WorkingDir
	var moved gitrepo.Resolved
	head := c.v.Head
	c.changed("checkout back at "+head[:min(12, len(head))], func(ctx workflow.Context) error {
		var res gitrepo.Resolved
		return c.execIn(ctx, building, g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: head, Reset: c.req.Reset}, &res)
	})
	if err := c.exec(building, g.Checkout, gitrepo.CheckoutInput{Dir: dir, Commit: c.v.Commit, Reset: c.req.Reset}, &moved); err != nil {
		return "", err
	}
	c.sections = append(c.sections, fmt.Sprintf("## Version\n\nChecked out %s (%s); the stack ran %s before.", c.v.Ref, c.v.Commit, c.v.Head))
	return fmt.Sprintf("%s (%.12s), was %.12s", c.v.Ref, c.v.Commit, c.v.Head), nil
}

// removeContainers is the runbook's `docker-compose rm -f`; compose up makes them again.
func (r *rollback) removeContainers() (string, error) {
	var d *docker.Activities
	var removed docker.RemoveResult
	err := r.exec(quick, d.RemoveContainers, docker.ProjectInput{Project: r.plan.Target.Project}, &removed)
	return fmt.Sprintf("%d removed", len(removed.Removed)), err
}
