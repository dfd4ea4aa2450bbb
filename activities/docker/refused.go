package docker

import (
	"errors"

	cerrdefs "github.com/containerd/errdefs"
	"go.temporal.io/sdk/temporal"
)

// ErrEngineRefused is the type of an error the engine answered with a refusal (permission
// denied, not authenticated): retrying cannot heal it.
const ErrEngineRefused = "EngineRefused"

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
			ErrEngineRefused, err)
	}
	return err
}
