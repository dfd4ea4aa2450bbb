package docker

import (
	"errors"

	"github.com/algotrendy/rewind/failure"
	cerrdefs "github.com/containerd/errdefs"
	"go.temporal.io/sdk/temporal"
)

// FailFast makes the engine's refusals end the step at once with what to fix; other errors
// are left to the retry policy (a dropped connection or a restarting dockerd heals).
func FailFast(err error) error {
	var app *temporal.ApplicationError
	if err == nil || errors.As(err, &app) {
		return err
	}
	if cerrdefs.IsPermissionDenied(err) || cerrdefs.IsUnauthorized(err) {
		return temporal.NewNonRetryableApplicationError(err.Error()+
			"; the Docker Engine refuses this worker: give its user access to the engine's socket or allow the call in the engine's authorization plugin, then start the rollback again",
			failure.EngineRefused, err)
	}
	return err
}
