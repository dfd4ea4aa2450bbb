package docker

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
)

// WaitHealthyInput says what must be up, and for how long to wait.
type WaitHealthyInput struct {
	Project string
	// Services that must run; empty: every service of the project that has a container.
	Services []string
	// Probes are HTTP URLs that must answer 200 (the runbook's curl checks).
	Probes []string
	// Timeout is the runbook's "services fail to start after 5 minutes"; 0: 5 minutes.
	Timeout time.Duration
}

// WaitHealthyResult says how each service ended up.
type WaitHealthyResult struct {
	Services map[string]string
	Waited   time.Duration
}

// Summary reads the services' states as prose: "api healthy, questdb running".
func (r WaitHealthyResult) Summary() string {
	names := slices.Sorted(maps.Keys(r.Services))
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n + " " + r.Services[n]
	}
	return strings.Join(out, ", ")
}

// WaitHealthy waits until every service runs and is healthy (or running, without a
// healthcheck) and every probe answers 200. It wakes on the engine's container events
// and re-probes every two seconds, heartbeating what it still waits for.
func (a *Activities) WaitHealthy(ctx context.Context, in WaitHealthyInput) (WaitHealthyResult, error) {
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := a.Engine.Events(evCtx, client.EventsListOptions{
		Filters: make(client.Filters).Add("label", ProjectLabel+"="+in.Project).Add("type", "container"),
	})
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	probe := &http.Client{Timeout: 3 * time.Second}
	for {
		states, waiting, err := a.health(ctx, in, probe)
		if err != nil {
			return WaitHealthyResult{}, err
		}
		if len(waiting) == 0 {
			return WaitHealthyResult{Services: states, Waited: time.Since(start).Round(time.Millisecond)}, nil
		}
		heartbeat.Beat(ctx, "waiting for "+strings.Join(waiting, "; "))
		select {
		case <-events.Messages:
		case <-events.Err:
			// The event stream is a shortcut; the ticker still drives the wait.
			events.Messages = nil
		case <-tick.C:
		case <-deadline.C:
			return WaitHealthyResult{Services: states}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("project %s not healthy after %s: still waiting for %s", in.Project, timeout, strings.Join(waiting, "; ")), failure.NotHealthy, nil)
		case <-ctx.Done():
			return WaitHealthyResult{}, ctx.Err()
		}
	}
}

func (a *Activities) health(ctx context.Context, in WaitHealthyInput, probe *http.Client) (map[string]string, []string, error) {
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return nil, nil, err
	}
	states := map[string]string{}
	for _, c := range cs {
		state := c.State
		if c.State == "running" {
			info, err := a.Engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
			if err != nil && !engine.Gone(err) {
				return nil, nil, fmt.Errorf("inspect %s: %w", c.Name, err)
			}
			if err == nil && info.Container.State != nil && info.Container.State.Health != nil {
				state = string(info.Container.State.Health.Status)
			}
		}
		states[c.Service] = state
	}
	want := in.Services
	if len(want) == 0 {
		for s := range states {
			want = append(want, s)
		}
		slices.Sort(want)
	}
	var waiting []string
	if len(want) == 0 {
		waiting = append(waiting, "containers of project "+in.Project)
	}
	for _, s := range want {
		switch st, ok := states[s]; {
		case !ok:
			waiting = append(waiting, s+" (no container)")
		case st != "healthy" && st != "running":
			waiting = append(waiting, s+" ("+st+")")
		}
	}
	for _, u := range in.Probes {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("probe %q: %v", u, err), failure.BadInput, err)
		}
		resp, err := probe.Do(req)
		if err != nil {
			waiting = append(waiting, u+" ("+err.Error()+")")
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			waiting = append(waiting, u+" ("+resp.Status+")")
		}
	}
	return states, waiting, nil
}
