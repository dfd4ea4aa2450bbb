package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
)

// SampleInput asks for one look at a project's containers for a guard: their states,
// restarts and memory now, and the log lines since the last look that match patterns.
type SampleInput struct {
	Project  string
	Since    time.Time
	Patterns []string `json:",omitempty"`
}

// ContainerSample is what the guard sees of the containers at one moment.
type ContainerSample struct {
	Total int
	// Down names the containers that are not running, or running but unhealthy.
	Down []string `json:",omitempty"`
	// Restarts is the containers' restart counts added up.
	Restarts int
	// Memory is the bytes the running containers use, as `docker stats` counts them.
	Memory int64
	// LogHits are the first log lines since Since that match a pattern.
	LogHits []string `json:",omitempty"`
}

// maxLogHits keeps a sample small: a few lines are evidence enough.
const maxLogHits = 5

// SampleContainers takes one look at the project's containers: `docker ps`, `docker
// stats --no-stream` and `docker logs --since`, in one step.
func (a *Activities) SampleContainers(ctx context.Context, in SampleInput) (ContainerSample, error) {
	var patterns []*regexp.Regexp
	for _, p := range in.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return ContainerSample{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("log pattern %q: %v", p, err), failure.BadInput, err)
		}
		patterns = append(patterns, re)
	}
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return ContainerSample{}, err
	}
	var out ContainerSample
	for _, c := range cs {
		heartbeat.Beat(ctx, "looking at "+c.Name)
		out.Total++
		info, err := a.inspect(ctx, c)
		if err != nil {
			if engine.Gone(err) {
				out.Down = append(out.Down, c.Name+" (removed)")
				continue
			}
			return ContainerSample{}, fmt.Errorf("inspect %s: %w", c.Name, err)
		}
		st := info.Container.State
		out.Restarts += info.Container.RestartCount
		switch {
		case st == nil || !st.Running:
			out.Down = append(out.Down, c.Name+" ("+c.State+")")
			continue
		case st.Health != nil && st.Health.Status == "unhealthy":
			out.Down = append(out.Down, c.Name+" (unhealthy)")
		}
		mem, err := a.memoryOf(ctx, c)
		if err != nil {
			return ContainerSample{}, err
		}
		out.Memory += mem
		if len(patterns) > 0 && len(out.LogHits) < maxLogHits {
			if err := a.logHits(ctx, c, in.Since, patterns, &out.LogHits); err != nil {
				return ContainerSample{}, err
			}
		}
	}
	return out, nil
}

func (a *Activities) memoryOf(ctx context.Context, c Container) (int64, error) {
	sample, err := a.Engine.ContainerStats(ctx, c.ID, client.ContainerStatsOptions{Stream: false})
	if engine.Gone(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read stats of %s: %w", c.Name, err)
	}
	defer sample.Body.Close()
	var s stats
	if err := json.NewDecoder(io.LimitReader(sample.Body, 1<<20)).Decode(&s); err != nil {
		return 0, fmt.Errorf("read stats of %s: %w", c.Name, err)
	}
	return int64(s.memory()), nil
}

func (a *Activities) logHits(ctx context.Context, c Container, since time.Time, patterns []*regexp.Regexp, hits *[]string) error {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "500"}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	body, err := a.readLogs(ctx, c, opts)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(body.String(), "\n") {
		for _, re := range patterns {
			if re.MatchString(line) && len(*hits) < maxLogHits {
				*hits = append(*hits, c.Name+": "+strings.TrimSpace(line))
				break
			}
		}
	}
	return nil
}

// inspect reads a container's state, retrying a dropped connection.
func (a *Activities) inspect(ctx context.Context, c Container) (client.ContainerInspectResult, error) {
	var info client.ContainerInspectResult
	err := engine.Retry(ctx, func() (err error) {
		info, err = a.Engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		return err
	})
	return info, err
}
