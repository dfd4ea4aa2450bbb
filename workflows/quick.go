package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
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
func Quick(ctx workflow.Context, req Request) (Result, error) {
	r, err := begin(ctx, req, Steps(OptionQuick)...)
	if err != nil {
		return Result{}, err
	}
	var v version
	err = do(
		r.codeRollbackAllowed,
		r.checklist,
		func() error { return r.resolveVersion(&v) },
		r.approval,
		r.stopStack,
		func() error { return r.keepLocalChanges(&v) },
		r.removeContainers,
		func() error { return r.checkout(&v) },
		r.startStack,
		r.waitHealthy,
		r.verify(nil),
		r.removeImage,
		r.archive(),
	)
	return r.end(err, "now running "+v.Ref)
}

// removeImage is the runbook's `docker rmi` of the image the stack ran before.
func (r *rollback) removeImage() error {
	image := r.plan.Target.Image
	if image == "" {
		r.skip(stepRemoveImg, "no image configured for removal")
		return nil
	}
	return r.step(stepRemoveImg, func() (string, error) {
		var d *docker.Activities
		var removed docker.RemoveResult
		err := r.exec(quick, d.RemoveImage, docker.ImageInput{Image: image}, &removed)
		return fmt.Sprintf("removed %s", image), err
	})
}
