package docker

import (
	"context"
	"fmt"
	"slices"

	"github.com/algotrendy/rewind/engine"
	"github.com/moby/moby/client"
)

// RemoveResult lists what a removal took away.
type RemoveResult struct {
	Removed []string
}

// RemoveContainers removes every container of the project (the runbook's `rm -f`). Named
// volumes are kept: their data is only ever removed by the volume steps, after a snapshot.
func (a *Activities) RemoveContainers(ctx context.Context, in ProjectInput) (RemoveResult, error) {
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return RemoveResult{}, err
	}
	var res RemoveResult
	for _, c := range cs {
		_, err := a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
		if err != nil && !engine.Gone(err) {
			return RemoveResult{}, fmt.Errorf("remove container %s: %w", c.Name, err)
		}
		res.Removed = append(res.Removed, c.Name)
	}
	return res, nil
}

// PruneNetworks removes the networks the project's containers leave behind; the runbook's
// `docker system prune` would take every unused network on the host, other teams' too.
func (a *Activities) PruneNetworks(ctx context.Context, in ProjectInput) (RemoveResult, error) {
	nets, err := a.Engine.NetworkList(ctx, client.NetworkListOptions{
		Filters: make(client.Filters).Add("label", ProjectLabel+"="+in.Project),
	})
	if err != nil {
		return RemoveResult{}, fmt.Errorf("list networks of project %s: %w", in.Project, err)
	}
	var res RemoveResult
	for _, n := range nets.Items {
		if _, err := a.Engine.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !engine.Gone(err) {
			return RemoveResult{}, fmt.Errorf("remove network %s: %w", n.Name, err)
		}
		res.Removed = append(res.Removed, n.Name)
	}
	slices.Sort(res.Removed)
	return res, nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// ImageInput names an image.
type ImageInput struct {
	Image string
}

// RemoveImage removes an image (the runbook's `docker rmi`); a missing image is fine.
func (a *Activities) RemoveImage(ctx context.Context, in ImageInput) (RemoveResult, error) {
	res, err := a.Engine.ImageRemove(ctx, in.Image, client.ImageRemoveOptions{})
	if engine.Gone(err) {
		return RemoveResult{}, nil
	}
	if err != nil {
		return RemoveResult{}, fmt.Errorf("remove image %s: %w", in.Image, err)
	}
	var out RemoveResult
	for _, d := range res.Items {
		if d.Untagged != "" {
			out.Removed = append(out.Removed, d.Untagged)
		}
	}
	return out, nil
}
