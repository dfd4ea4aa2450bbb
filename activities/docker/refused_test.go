package docker_test

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/failure"
)

func TestFailFastStopsRetriesOnlyForRefusals(t *testing.T) {
	refused := docker.FailFast(fmt.Errorf("stop containers of project p: %w", cerrdefs.ErrPermissionDenied.WithMessage("authorization denied by plugin")))
	var app *temporal.ApplicationError
	require.True(t, errors.As(refused, &app))
	require.True(t, app.NonRetryable())
	require.Equal(t, failure.EngineRefused, app.Type())
	require.Contains(t, refused.Error(), "authorization denied by plugin")
	require.Contains(t, refused.Error(), "give its user access to the engine's socket")

	dropped := errors.New("read unix @->/var/run/docker.sock: EOF")
	require.Same(t, dropped, docker.FailFast(dropped), "a dropped connection is left to the retry policy")
	require.NoError(t, docker.FailFast(nil))
}
