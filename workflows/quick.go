package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/workflows/api"
)

// Steps of the quick rollback (runbook Option 1).
const (
	stepRemoveCtrs = "Remove the containers"
	stepRemoveImg  = "Remove the rolled-back image"
)

// Quick is the runbook's Option 1: stop, remove the containers, go back to the previous
// version's configuration and start it; no database change. The runbook removes the bad
// image first; Rewind removes it only once the older version is verified, because no
// registry may be reachable to bring it back if the stack has to be put back.
func Quick(ctx workflow.Context, req api.Request) (api.Result, error) {
	return rollBackCode(ctx, req, quickSteps())
}

// quickSteps are the quick rollback's steps, in the order they run.
func quickSteps() []step[*codeRollback] {
	return append(codeRollbackOpens(),
		line(stepRemoveCtrs, (*codeRollback).removeContainers),
		line(stepCheckout, (*codeRollback).checkout),
		line(stepUp, (*codeRollback).startStack),
		line(stepHealthy, (*codeRollback).waitHealthy),
		line(stepVerify, (*codeRollback).verify),
		marking((*codeRollback).removeImage, stepRemoveImg),
		line(stepArchive, (*codeRollback).archive),
	)
}

// removeImage is the runbook's `docker rmi` of the image the stack ran before.
func (r *rollback) removeImage() error {
	image := r.plan.Target.Image
	if image == "" {
		return r.skip(stepRemoveImg, "no image configured for removal")
	}
	return r.step(stepRemoveImg, func() (string, error) {
		var d *docker.Activities
		var removed docker.RemoveResult
		err := r.exec(quick, d.RemoveImage, docker.ImageInput{Image: image}, &removed)
		return fmt.Sprintf("removed %s", image), err
	})
}
