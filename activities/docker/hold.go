package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/holds"
)

// HoldInput says how a backup holds the stack's writes while it copies the volumes:
// pause the containers that mount them, or stop the project's running containers.
type HoldInput struct {
	Project string
	// Mode is pause or stop (the stack's backups.consistency).
	Mode string
	// Volumes are the stack's volumes: pause holds the containers that mount them.
	Volumes []string
	// Grace is how long a stopped container gets to exit cleanly.
	Grace time.Duration
	// Containers are the ones HoldTargets named, recorded before anything changed:
	// HoldWrites holds them and ReleaseWrites lets exactly them go.
	Containers []string `json:",omitempty"`
}

// Held says what a hold or release did and when it was done, by this host's clock.
type Held struct {
	Containers []string `json:",omitempty"`
	At         time.Time
}

// HoldTargets names the running containers a hold would pause or stop, so the workflow
// records them before it holds anything and a release after a crash knows what to let go.
func (a *Activities) HoldTargets(ctx context.Context, in HoldInput) ([]string, error) {
	if in.Mode != "pause" && in.Mode != "stop" {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("hold mode %q is not pause or stop", in.Mode), failure.BadInput, nil)
	}
	running, err := a.projectContainers(ctx, in.Project, false)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range running {
		mounts, err := a.mountsOneOf(ctx, c.ID, in.Volumes)
		if err != nil {
			return nil, err
		}
		if in.Mode == "stop" || mounts {
			out = append(out, c.Name)
		}
	}
	// A pause that holds nothing while the stack runs would label an unheld copy "pause".
	if in.Mode == "pause" && len(running) > 0 && len(out) == 0 {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no running container of project %s mounts %s, so pausing holds nothing; check the stack's volumes or use backups.consistency: stop",
			in.Project, strings.Join(in.Volumes, ", ")), failure.BadInput, nil)
	}
	return out, nil
}

func (a *Activities) mountsOneOf(ctx context.Context, id string, volumes []string) (bool, error) {
	res, err := a.Engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("inspect container %s for its volumes: %w", id, err)
	}
	for _, m := range res.Container.Mounts {
		if slices.Contains(volumes, m.Name) {
			return true, nil
		}
	}
	return false, nil
}

// HoldWrites pauses (docker pause) or stops the recorded containers. Holding one already
// held is done: a retry after a crash holds the rest.
func (a *Activities) HoldWrites(ctx context.Context, in HoldInput) (Held, error) {
	if in.Mode == "stop" {
		if err := a.Holds.Put(holdOf(ctx, in)); err != nil {
			return Held{}, err
		}
		if _, err := a.StopProject(ctx, StopInput{Project: in.Project, Grace: in.Grace}); err != nil {
			return Held{}, err
		}
		return Held{Containers: in.Containers, At: time.Now()}, nil
	}
	if err := a.Holds.Put(holdOf(ctx, in)); err != nil {
		return Held{}, err
	}
	for _, name := range in.Containers {
		state, id, err := a.ownState(ctx, in.Project, name)
		if err != nil {
			return Held{}, err
		}
		if state.Running && !state.Paused {
			if _, err := a.Engine.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
				return Held{}, fmt.Errorf("pause container %s for the backup: %w", name, err)
			}
		}
	}
	return Held{Containers: in.Containers, At: time.Now()}, nil
}

// ReleaseWrites lets the recorded containers go: unpauses a paused one, starts a stopped
// one. Releasing what is not held is done, so it runs on every path, as often as needed.
func (a *Activities) ReleaseWrites(ctx context.Context, in HoldInput) (Held, error) {
	var released []string
	for _, name := range in.Containers {
		state, id, err := a.ownState(ctx, in.Project, name)
		if engine.Gone(err) {
			continue // removed by someone since: nothing of ours to release
		}
		if err != nil {
			return Held{}, err
		}
		switch {
		case state.Paused:
			if _, err := a.Engine.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{}); err != nil {
				return Held{}, fmt.Errorf("unpause container %s after the backup: %w", name, err)
			}
		case !state.Running && in.Mode == "stop":
			if _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
				return Held{}, fmt.Errorf("start container %s again after the backup: %w", name, err)
			}
		default:
			continue
		}
		released = append(released, name)
	}
	if activity.IsActivity(ctx) {
		run := activity.GetInfo(ctx).WorkflowExecution
		if err := a.Holds.Drop(run.ID, run.RunID); err != nil {
			return Held{}, fmt.Errorf("forget the released hold: %w", err)
		}
	}
	return Held{Containers: released, At: time.Now()}, nil
}

// holdOf is the ledger's record of the hold in is about to take.
func holdOf(ctx context.Context, in HoldInput) holds.Hold {
	h := holds.Hold{Mode: in.Mode, Project: in.Project, Containers: in.Containers, At: time.Now()}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		h.WorkflowID, h.RunID, h.Until = info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.Deadline
	}
	return h
}

// containerState is what a hold needs to know of a container.
type containerState struct{ Running, Paused bool }

// ownState inspects a container of the project; one of another project is refused.
func (a *Activities) ownState(ctx context.Context, project, name string) (containerState, string, error) {
	res, err := a.Engine.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		if engine.Gone(err) {
			return containerState{}, "", err
		}
		return containerState{}, "", fmt.Errorf("inspect container %s: %w", name, err)
	}
	c := res.Container
	if c.Config == nil || c.Config.Labels[ProjectLabel] != project {
		return containerState{}, "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("container %s is not of compose project %s; nothing was held", name, project), failure.BadInput, nil)
	}
	if c.State == nil {
		return containerState{}, c.ID, nil
	}
	return containerState{Running: c.State.Running, Paused: c.State.Paused}, c.ID, nil
}
