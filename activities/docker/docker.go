// Package docker holds the runbook's steps on a Docker Compose project as Temporal
// activities on the Docker Engine API: stop, remove, compose up, wait healthy, capture,
// logs, resources, samples, build and prune. Containers and networks are found by the
// com.docker.compose.* labels that compose v1 and v2 both set, never by name. What moves
// or swaps a volume's bytes is package volume's.
package docker

import (
	"context"
	"fmt"
	"sort"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/holds"
	"github.com/algotrendy/rewind/storage"
)

// ProjectLabel is the label compose puts on everything of a project.
const ProjectLabel = "com.docker.compose.project"

// ServiceLabel names the compose service of a container.
const ServiceLabel = "com.docker.compose.service"

// Activities run on the Docker host; they hold its engine client and the evidence store.
type Activities struct {
	Engine   *client.Client
	Evidence storage.Store
	// Holds records each backup's pause or stop before it is taken, so a run that ends
	// without its release (terminated) is let go by the worker.
	Holds holds.Ledger
}

// Container is what Rewind records of one container.
type Container struct {
	ID      string
	Name    string
	Service string
	Image   string
	State   string
	Status  string
}

func (a *Activities) projectContainers(ctx context.Context, project string, all bool) ([]Container, error) {
	if project == "" {
		return nil, temporal.NewNonRetryableApplicationError("no compose project given", failure.BadInput, nil)
	}
	res, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{
		All:     all,
		Filters: make(client.Filters).Add("label", ProjectLabel+"="+project),
	})
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", project, err)
	}
	out := make([]Container, 0, len(res.Items))
	for _, c := range res.Items {
		out = append(out, summarize(c))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func summarize(c container.Summary) Container {
	return Container{
		ID:      c.ID,
		Name:    engine.ContainerName(c),
		Service: c.Labels[ServiceLabel],
		Image:   c.Image,
		State:   string(c.State),
		Status:  c.Status,
	}
}
