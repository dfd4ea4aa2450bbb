package volume

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
)

// refuseRunning fails, naming them, when running containers other than Rewind's helpers
// mount any of the volumes: a server keeps its files open, and renaming, removing or
// writing its data under it pulls the floor from under it. act says what was refused.
func (a *Activities) refuseRunning(ctx context.Context, act string, volumes ...string) error {
	for _, v := range volumes {
		if v == "" {
			continue
		}
		users, err := a.volumeUsers(ctx, v, false)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"refuse to %s: volume %s is mounted by running container %s; stop it first (a put-back stops what the rollback started before it puts volumes back)",
				act, v, strings.Join(users, ", ")), failure.VolumeInUse, nil)
		}
	}
	return nil
}

// volumeUsers names the containers other than Rewind's helpers that mount volume: the
// running ones, or with all also the stopped ones.
func (a *Activities) volumeUsers(ctx context.Context, volume string, all bool) ([]string, error) {
	var list client.ContainerListResult
	err := engine.Retry(ctx, func() (err error) {
		list, err = a.Engine.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: make(client.Filters).Add("volume", volume)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list containers using volume %s: %w", volume, err)
	}
	var names []string
	for _, c := range list.Items {
		if c.Labels[HelperLabel] == "true" {
			continue
		}
		names = append(names, engine.ContainerName(c))
	}
	return names, nil
}

// noSpace turns a full filesystem into a failure that is not retried and says what to do;
// other errors pass unchanged. where names what was being written.
func noSpace(err error, where string) error {
	if err == nil {
		return nil
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == failure.NoSpace {
		return err
	}
	if !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space left on device") {
		return err
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s: no space left on device: the data does not fit; free space on that filesystem (or give the volume a larger one) and start the rollback again", where),
		failure.NoSpace, err)
}
