package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/workflows/api"
)

// stepBuild is the runbook's `docker build` of the version checked out.
const stepBuild = "Build the image of that version"

// Git is the runbook's Option 3: keep local changes, check out a tag or commit (or reset
// the branch), rebuild the image from that version and start it.
func Git(ctx workflow.Context, req api.Request) (api.Result, error) {
	return rollBackCode(ctx, req, gitSteps(), (*rollback).buildAllowed)
}

// gitSteps are the git rollback's steps, in the order they run.
func gitSteps() []step[*codeRollback] {
	return append(codeRollbackOpens(),
		line(stepCheckout, (*codeRollback).checkout),
		line(stepBuild, (*codeRollback).build),
		line(stepUp, (*codeRollback).startStack),
		line(stepHealthy, (*codeRollback).waitHealthy),
		line(stepVerify, (*codeRollback).verify),
		line(stepArchive, (*codeRollback).archive),
	)
}

func (r *rollback) buildAllowed() error {
	if r.plan.Target.Build.Image == "" {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("a git rollback rebuilds the image: set stacks.%s.build.image (and build.dockerfile)", r.req.Stack), failure.BadInput, nil)
	}
	return nil
}

// build is `docker build -f <dockerfile> -t <image>:<version> .` through the Engine API.
func (c *codeRollback) build() (string, error) {
	var d *docker.Activities
	b := c.plan.Target.Build
	tag := b.Image + ":" + strings.NewReplacer("/", "-", "~", "-", "^", "-").Replace(c.v.Ref)
	var built docker.BuildResult
	in := docker.BuildInput{Context: c.plan.Target.WorkingDir, Dockerfile: b.Dockerfile, Tag: tag, MaxContext: b.MaxContextBytes()}
	if err := c.exec(building, d.BuildImage, in, &built); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %.19s from a context of %d files, %s", built.Tag, built.ImageID, built.ContextFiles, size(built.ContextBytes)), nil
}
