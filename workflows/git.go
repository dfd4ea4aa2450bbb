package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/failure"
)

// stepBuild is the runbook's `docker build` of the version checked out.
const stepBuild = "Build the image of that version"

// Git is the runbook's Option 3: keep local changes, check out a tag or commit (or reset
// the branch), rebuild the image from that version and start it.
func Git(ctx workflow.Context, req Request) (Result, error) {
	r, err := begin(ctx, req, Steps(OptionGit)...)
	if err != nil {
		return Result{}, err
	}
	var v version
	err = do(
		r.codeRollbackAllowed,
		r.buildAllowed,
		r.checklist,
		func() error { return r.resolveVersion(&v) },
		r.approval,
		r.stopStack,
		func() error { return r.keepLocalChanges(&v) },
		func() error { return r.checkout(&v) },
		func() error { return r.build(&v) },
		r.startStack,
		r.waitHealthy,
		r.verify(nil),
		r.archive(),
	)
	return r.end(err, "now running "+v.Ref)
}

func (r *rollback) buildAllowed() error {
	if r.plan.Target.Build.Image == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("a git rollback rebuilds the image: set stacks.%s.build.image (and build.dockerfile)", r.req.Stack), failure.BadInput, nil)
	}
	return nil
}

// build is `docker build -f <dockerfile> -t <image>:<version> .` through the Engine API.
func (r *rollback) build(v *version) error {
	return r.step(stepBuild, func() (string, error) {
		var d *docker.Activities
		b := r.plan.Target.Build
		tag := b.Image + ":" + strings.NewReplacer("/", "-", "~", "-", "^", "-").Replace(v.Ref)
		var built docker.BuildResult
		in := docker.BuildInput{Context: r.plan.Target.WorkingDir, Dockerfile: b.Dockerfile, Tag: tag, MaxContext: b.MaxContextBytes()}
		if err := r.exec(building, d.BuildImage, in, &built); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s %.19s from a context of %d files, %s", built.Tag, built.ImageID, built.ContextFiles, size(built.ContextBytes)), nil
	})
}
