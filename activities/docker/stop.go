package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/heartbeat"
)

// StopInput says which project to stop and how long its containers get to exit cleanly.
type StopInput struct {
	Project string
	Grace   time.Duration
}

// StopResult says how each container stopped.
type StopResult struct {
	// Stopped exited within the grace period.
	Stopped []string
	// Killed did not, and were killed (the runbook's "containers won't stop").
	Killed []string
	// AlreadyStopped were not running when the step began, as after a retry.
	AlreadyStopped []string
}

// killMargin is how long past the grace period Rewind waits on the engine's own stop
// before it sends SIGKILL itself.
const killMargin = 10 * time.Second

// StopProject stops every running container of the project: SIGTERM, then SIGKILL after the
// grace period. It heartbeats the containers still stopping, so a crashed worker's retry
// picks up what is left.
func (a *Activities) StopProject(ctx context.Context, in StopInput) (StopResult, error) {
	all, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return StopResult{}, err
	}
	var res StopResult
	var running []Container
	for _, c := range all {
		if c.State == "running" || c.State == "restarting" || c.State == "paused" {
			running = append(running, c)
		} else {
			res.AlreadyStopped = append(res.AlreadyStopped, c.Name)
		}
	}
	if len(running) == 0 {
		return res, nil
	}

	grace := int(in.Grace.Seconds())
	var mu sync.Mutex
	waiting := map[string]bool{}
	stopErrs := map[string]error{}
	var wg sync.WaitGroup
	for _, c := range running {
		waiting[c.Name] = true
		wg.Add(1)
		go func(c Container) {
			defer wg.Done()
			_, err := a.Engine.ContainerStop(ctx, c.ID, client.ContainerStopOptions{Timeout: &grace})
			mu.Lock()
			defer mu.Unlock()
			delete(waiting, c.Name)
			if err != nil && !engine.Gone(err) {
				stopErrs[c.Name] = err
			}
		}(c)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	deadline := time.NewTimer(in.Grace + killMargin)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var forced []string
	heartbeat.Beat(ctx, stopProgress(&mu, waiting, len(running)))
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			heartbeat.Beat(ctx, stopProgress(&mu, waiting, len(running)))
		case <-deadline.C:
			// The engine's own stop hangs: kill directly, as the runbook's `kill` does.
			mu.Lock()
			for _, c := range running {
				if waiting[c.Name] {
					forced = append(forced, c.Name)
				}
			}
			mu.Unlock()
			for _, c := range running {
				for _, f := range forced {
					if f == c.Name {
						if _, err := a.Engine.ContainerKill(ctx, c.ID, client.ContainerKillOptions{}); err != nil && !engine.Gone(err) {
							return StopResult{}, fmt.Errorf("kill %s after %s: %w", c.Name, in.Grace, err)
						}
					}
				}
			}
		case <-ctx.Done():
			return StopResult{}, ctx.Err()
		}
	}
	for name, err := range stopErrs {
		return StopResult{}, fmt.Errorf("stop %s: %w", name, err)
	}

	for _, c := range running {
		info, err := a.Engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if engine.Gone(err) {
			res.Stopped = append(res.Stopped, c.Name)
			continue
		}
		if err != nil {
			return StopResult{}, fmt.Errorf("inspect %s after stop: %w", c.Name, err)
		}
		st := info.Container.State
		switch {
		case st != nil && st.Running:
			return StopResult{}, fmt.Errorf("stop %s: still running after stop and kill", c.Name)
		case st != nil && st.ExitCode == 137, contains(forced, c.Name):
			res.Killed = append(res.Killed, c.Name)
		default:
			res.Stopped = append(res.Stopped, c.Name)
		}
	}
	return res, nil
}

func stopProgress(mu *sync.Mutex, waiting map[string]bool, total int) string {
	mu.Lock()
	defer mu.Unlock()
	var names []string
	for n := range waiting {
		names = append(names, n)
	}
	return fmt.Sprintf("%d of %d stopped; waiting for %s", total-len(names), total, strings.Join(sortedCopy(names), ", "))
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
