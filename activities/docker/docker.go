// Package docker holds the runbook's steps on a Docker Compose project as Temporal
// activities on the Docker Engine API. Containers, networks and volumes are found by the
// com.docker.compose.* labels that compose v1 and v2 both set, never by name.
package docker

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
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
	// StateDir keeps transfer checkpoints on this host; empty keeps them in heartbeats only.
	StateDir string
	// BatchBytes is how much a restore sends, and a snapshot writes, between checkpoints:
	// the most a crash makes it send again. 0: 256 MiB for restores, 64 MiB for snapshots.
	BatchBytes int64
	// NoRename makes swaps copy instead of renaming volume folders (worker.swap: copy).
	NoRename bool
	// ArchiveOnly makes restores write through the engine's archive API instead of
	// Rewind's own mover (worker.transfer: archive).
	ArchiveOnly bool
	// Mover is a static binary that carries the mover (`<binary> mover ...`); empty: this
	// worker's own.
	Mover string
	// StopSwapBetweenMoves makes the swap's mover stop after its first rename, as a crash
	// of the host there would (the crash point inside:SwapVolume).
	StopSwapBetweenMoves bool
	// builtMover is the mover image built for this worker's binary, once found: the binary
	// is hashed once per process, not per step.
	builtMover moverImageCache
	// onBatch, set by tests, sees the backup entries [from, to) each restore batch wrote.
	onBatch func(from, to int)
}

// NewEngine connects to the engine named by DOCKER_HOST (or the local socket) and checks
// that it answers, so a worker on a host without Docker fails at start with a clear message.
func NewEngine(ctx context.Context) (*client.Client, error) {
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
	name := c.ID[:12]
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	return Container{
		ID:      c.ID,
		Name:    name,
		Service: c.Labels[ServiceLabel],
		Image:   c.Image,
		State:   string(c.State),
		Status:  c.Status,
	}
}

// gone reports whether err says the object no longer exists, which a retried step treats
// as already done.
func gone(err error) bool {
	return cerrdefs.IsNotFound(err)
}

func names(cs []Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

// retry runs one call to the engine again when the connection failed before an answer
// came: a dropped connection or a restarting dockerd heals in moments, and redoing a whole
// step for it costs more. Calls that change something must be safe to send twice.
func retry(ctx context.Context, call func() error) error {
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
