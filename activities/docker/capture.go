package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/heartbeat"
)

// CaptureInput says which project to capture and where its evidence goes.
type CaptureInput struct {
	Project string
	// Prefix is the evidence folder of the incident, like incidents/20261126/rewind-prod/checklist.
	Prefix string
	// LogTail is how many log lines per container to keep (the runbook keeps all; 0 keeps 2000).
	LogTail int
	// Services and Probes are looked at once, as WaitHealthy would (empty: every service,
	// no probe): whether the stack was healthy when found (Health).
	Services []string `json:",omitempty"`
	Probes   []string `json:",omitempty"`
}

// CaptureResult lists what was captured.
type CaptureResult struct {
	Containers []Container
	Files      []string
	// Health is how the stack was found: HealthHealthy, or "not healthy: " and what was
	// not; empty when not looked at.
	Health string `json:",omitempty"`
}

// HealthHealthy is CaptureResult.Health of a stack found healthy.
const HealthHealthy = "healthy"

// CaptureState writes the runbook's `docker-compose ps`, `logs` and `stats --no-stream`
// of the project as evidence, before anything changes.
func (a *Activities) CaptureState(ctx context.Context, in CaptureInput) (CaptureResult, error) {
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return CaptureResult{}, err
	}
	var res CaptureResult
	res.Containers = cs
	switch _, waiting, err := a.health(ctx, WaitHealthyInput{Project: in.Project, Services: in.Services, Probes: in.Probes}, &http.Client{Timeout: 3 * time.Second}); {
	case err != nil:
		// Unknown: a put-back then waits as long as for a stack found healthy.
	case len(waiting) == 0:
		res.Health = HealthHealthy
	default:
		res.Health = "not healthy: " + strings.Join(waiting, "; ")
	}
	put := func(name string, body []byte) error {
		full := path.Join(in.Prefix, name)
		if err := a.Evidence.Put(ctx, full, bytes.NewReader(body)); err != nil {
			return fmt.Errorf("store evidence %s: %w", name, err)
		}
		res.Files = append(res.Files, a.Evidence.Location(full))
		return nil
	}

	var ps bytes.Buffer
	tw := tabwriter.NewWriter(&ps, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSERVICE\tIMAGE\tSTATE\tSTATUS")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.Service, c.Image, c.State, c.Status)
	}
	tw.Flush()
	if err := put("deployment_state.txt", ps.Bytes()); err != nil {
		return CaptureResult{}, err
	}

	tail := in.LogTail
	if tail <= 0 {
		tail = 2000
	}
	var logs bytes.Buffer
	stats := map[string]json.RawMessage{}
	for i, c := range cs {
		heartbeat.Beat(ctx, fmt.Sprintf("captured %d of %d containers", i, len(cs)))
		if err := a.containerLogs(ctx, c, tail, &logs); err != nil {
			return CaptureResult{}, err
		}
		if c.State != "running" {
			continue
		}
		st, err := a.containerStats(ctx, c)
		if err != nil {
			return CaptureResult{}, err
		}
		stats[c.Name] = st
	}
	if err := put("deployment_logs.txt", logs.Bytes()); err != nil {
		return CaptureResult{}, err
	}
	statsJSON, err := json.MarshalIndent(stats, "", "  ")
	if err != nil {
		return CaptureResult{}, fmt.Errorf("encode stats: %w", err)
	}
	if err := put("resource_usage.json", statsJSON); err != nil {
		return CaptureResult{}, err
	}
	return res, nil
}

func (a *Activities) containerLogs(ctx context.Context, c Container, tail int, w *bytes.Buffer) error {
	body, err := a.readLogs(ctx, c, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: strconv.Itoa(tail),
	})
	if err != nil {
		return err
	}
	for _, line := range bytes.SplitAfter(body.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s | %s", c.Name, line)
	}
	return nil
}

// readLogs reads a container's log, stdout and stderr interleaved; a removed container
// has none.
func (a *Activities) readLogs(ctx context.Context, c Container, opts client.ContainerLogsOptions) (bytes.Buffer, error) {
	var body bytes.Buffer
	rc, err := a.Engine.ContainerLogs(ctx, c.ID, opts)
	if engine.Gone(err) {
		return body, nil
	}
	if err != nil {
		return body, fmt.Errorf("read logs of %s: %w", c.Name, err)
	}
	defer rc.Close()
	if _, err := stdcopy.StdCopy(&body, &body, rc); err != nil {
		return body, fmt.Errorf("read logs of %s: %w", c.Name, err)
	}
	return body, nil
}

func (a *Activities) containerStats(ctx context.Context, c Container) (json.RawMessage, error) {
	res, err := a.Engine.ContainerStats(ctx, c.ID, client.ContainerStatsOptions{Stream: false})
	if engine.Gone(err) {
		return json.RawMessage("null"), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read stats of %s: %w", c.Name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read stats of %s: %w", c.Name, err)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("read stats of %s: the engine sent no JSON", c.Name)
	}
	return body, nil
}
