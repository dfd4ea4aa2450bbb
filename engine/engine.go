// Package engine connects to the Docker Engine and holds the few rules every call to it
// follows: a dropped connection is retried, and a missing object is told apart. It
// registers no activity; the activity packages that drive the engine share it.
package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// New connects to the engine named by DOCKER_HOST (or the local socket) and checks that it
// answers, so a worker on a host without Docker fails at start with a clear message.
func New(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("create docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, fmt.Errorf("reach the docker engine at %s (set DOCKER_HOST or start dockerd): %w", c.DaemonHost(), err)
	}
	return c, nil
}

// Gone reports whether err says the object no longer exists, which a retried step treats
// as already done.
func Gone(err error) bool {
	return cerrdefs.IsNotFound(err)
}

// Retry runs one call to the engine again when the connection failed before an answer
// came: a dropped connection or a restarting dockerd heals in moments, and redoing a whole
// step for it costs more. Calls that change something must be safe to send twice.
func Retry(ctx context.Context, call func() error) error {
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := call()
		if err == nil || !client.IsErrConnectionFailed(err) || attempt == 5 {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

// ContainerName is the name a person knows a container by: its first name without the
// leading slash, or its short ID.
func ContainerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// Creator makes containers and finds them by name.
type Creator interface {
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ContainerInspect(ctx context.Context, containerID string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// CreateOnce creates a container by name, sending the request again when the connection
// failed; one the engine made before its answer got lost (or an earlier attempt made) is
// found by its name.
func CreateOnce(ctx context.Context, c Creator, opts client.ContainerCreateOptions) (string, error) {
	var id string
	err := Retry(ctx, func() error {
		res, err := c.ContainerCreate(ctx, opts)
		if cerrdefs.IsConflict(err) {
			found, ierr := c.ContainerInspect(ctx, opts.Name, client.ContainerInspectOptions{})
			if ierr != nil {
				return ierr
			}
			id = found.Container.ID
			return nil
		}
		if err == nil {
			id = res.ID
		}
		return err
	})
	return id, err
}
