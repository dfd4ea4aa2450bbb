package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/algotrendy/rewind/engine"
	"github.com/moby/moby/client"
)

// ResourcesCheck bounds the memory and CPU each running container of the project uses:
// the runbook's `docker stats --no-stream`, judged.
type ResourcesCheck struct {
	Project string
	// MaxMemory is bytes of memory in use (without the page cache); 0: not checked.
	MaxMemory int64
	// MaxCPUPercent is the share of one core; 0: not checked.
	MaxCPUPercent float64
}

// ResourcesResult is the verdict with what each container used.
type ResourcesResult struct {
	Passed   bool
	Evidence string
}

// stats is the part of the engine's stats answer the check reads.
type stats struct {
	Memory struct {
		Usage uint64            `json:"usage"`
		Stats map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
	CPU    cpuStats `json:"cpu_stats"`
	PreCPU cpuStats `json:"precpu_stats"`
}

type cpuStats struct {
	Usage struct {
		Total uint64 `json:"total_usage"`
	} `json:"cpu_usage"`
	System uint64 `json:"system_cpu_usage"`
	Online uint32 `json:"online_cpus"`
}

// memory is what `docker stats` shows: usage less the inactive page cache.
func (s stats) memory() uint64 {
	cache := s.Memory.Stats["inactive_file"] // cgroup v2
	if c, ok := s.Memory.Stats["total_inactive_file"]; ok {
		cache = c // cgroup v1
	}
	return s.Memory.Usage - min(cache, s.Memory.Usage)
}

// cpuPercent is the share of one core used between the engine's two samples.
func (s stats) cpuPercent() float64 {
	cpu := float64(s.CPU.Usage.Total) - float64(s.PreCPU.Usage.Total)
	system := float64(s.CPU.System) - float64(s.PreCPU.System)
	if cpu <= 0 || system <= 0 {
		return 0
	}
	return cpu / system * float64(max(s.CPU.Online, 1)) * 100
}

// CheckResources reads one sample of each running container's stats and fails naming
// the containers over a limit.
func (a *Activities) CheckResources(ctx context.Context, in ResourcesCheck) (ResourcesResult, error) {
	cs, err := a.projectContainers(ctx, in.Project, false)
	if err != nil {
		return ResourcesResult{}, err
	}
	res := ResourcesResult{Passed: true}
	var seen, over []string
	for _, c := range cs {
		sample, err := a.Engine.ContainerStats(ctx, c.ID, client.ContainerStatsOptions{Stream: false})
		if engine.Gone(err) {
			continue
		}
		if err != nil {
			return ResourcesResult{}, fmt.Errorf("read stats of %s: %w", c.Name, err)
		}
		var s stats
		err = json.NewDecoder(io.LimitReader(sample.Body, 1<<20)).Decode(&s)
		sample.Body.Close()
		if err != nil {
			return ResourcesResult{}, fmt.Errorf("read stats of %s: %w", c.Name, err)
		}
		mem, cpu := s.memory(), s.cpuPercent()
		seen = append(seen, fmt.Sprintf("%s %.1f MiB, %.0f%% CPU", c.Name, float64(mem)/(1<<20), cpu))
		if in.MaxMemory > 0 && mem > uint64(in.MaxMemory) {
			over = append(over, fmt.Sprintf("%s uses %.1f MiB of memory, over the limit of %.1f MiB", c.Name, float64(mem)/(1<<20), float64(in.MaxMemory)/(1<<20)))
		}
		if in.MaxCPUPercent > 0 && cpu > in.MaxCPUPercent {
			over = append(over, fmt.Sprintf("%s uses %.0f%% CPU, over the limit of %.0f%%", c.Name, cpu, in.MaxCPUPercent))
		}
	}
	res.Passed = len(over) == 0
	res.Evidence = strings.Join(seen, "; ")
	if !res.Passed {
		res.Evidence = strings.Join(over, "; ") + " (" + res.Evidence + ")"
	}
	return res, nil
}
