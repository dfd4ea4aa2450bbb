package docker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
)

// oneoffLabel marks the containers of `compose run`, which `compose up` never starts.
const oneoffLabel = "com.docker.compose.oneoff"

// StartResult says what was started, or why compose must bring the project up instead.
type StartResult struct {
	Started []string
	// AlreadyRunning were running when the step began, as after a retry.
	AlreadyRunning []string
	// Left are the project's stopped containers `compose up` would not start either: a
	// service in an inactive profile, or an orphan whose service left the files.
	Left []string `json:",omitempty"`
	// NeedsCompose, when set, says why nothing was started: compose would create or
	// recreate a container (none, too few or too many for the service's replicas, or the
	// files changed since they were made), or must order the start (a dependency waits on
	// health or completion, or a cycle), or a container was stopped before this run, or
	// the compose files cannot be read.
	NeedsCompose string `json:",omitempty"`
}

// StartProject is `compose up -d` for a project whose definition and containers are those
// it had when it stopped, as after a full rollback's swap: it starts the containers this
// run's stop stopped (in.Stopped) through the Engine API, each after the services it
// depends on, and runs no compose process. Anything compose would do otherwise is handed
// back to compose. Starting a running container is done already, so a retry is safe.
func (a *Activities) StartProject(ctx context.Context, in ComposeUpInput) (StartResult, error) {
	if in.Project == "" || len(in.Files) == 0 {
		return StartResult{}, temporal.NewNonRetryableApplicationError("start needs a project and at least one compose file", failure.BadInput, nil)
	}
	p, files, err := loadProject(ctx, in)
	if err != nil {
		return StartResult{NeedsCompose: err.Error()}, nil
	}
	list, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", ProjectLabel+"="+in.Project)})
	if err != nil {
		return StartResult{}, fmt.Errorf("list containers of project %s: %w", in.Project, err)
	}
	var res StartResult
	var cs []Container
	for _, c := range list.Items {
		if c.Labels[oneoffLabel] == "True" {
			continue
		}
		s := summarize(c)
		if _, active := p.Services[s.Service]; !active {
			if s.State != "running" {
				res.Left = append(res.Left, s.Name)
			}
			continue
		}
		cs = append(cs, s)
	}
	slices.SortFunc(cs, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(res.Left)
	if why := needsCompose(p, cs, in.Stopped); why != "" {
		return StartResult{NeedsCompose: why}, nil
	}
	oldest, err := a.oldestMade(ctx, cs)
	if err != nil {
		return StartResult{}, err
	}
	if why := changedSince(files, oldest); why != "" {
		return StartResult{NeedsCompose: why}, nil
	}
	deps := map[string][]string{}
	for name, s := range p.Services {
		for dep := range s.DependsOn {
			deps[name] = append(deps[name], dep)
		}
	}
	order, err := startOrder(cs, deps)
	if err != nil {
		return StartResult{NeedsCompose: err.Error()}, nil
	}
	for _, c := range order {
		if c.State == "running" {
			res.AlreadyRunning = append(res.AlreadyRunning, c.Name)
			continue
		}
		heartbeat.Beat(ctx, "starting "+c.Name)
		if _, err := a.Engine.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			return res, fmt.Errorf("start %s: %w", c.Name, err)
		}
		res.Started = append(res.Started, c.Name)
	}
	return res, nil
}

// oldestMade is when the oldest of the containers was made, to the nanosecond (the
// listing's seconds would hide an edit made in the second before).
func (a *Activities) oldestMade(ctx context.Context, cs []Container) (time.Time, error) {
	var oldest time.Time
	for _, c := range cs {
		info, err := a.Engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			return time.Time{}, fmt.Errorf("inspect %s: %w", c.Name, err)
		}
		made, err := time.Parse(time.RFC3339Nano, info.Container.Created)
		if err != nil {
			return time.Time{}, fmt.Errorf("read when %s was made: %w", c.Name, err)
		}
		if oldest.IsZero() || made.Before(oldest) {
			oldest = made
		}
	}
	return oldest, nil
}

// loadProject reads the compose files as `compose up` in the working dir would (the
// worker's environment and in.Env, .env, COMPOSE_PROFILES, include, extends, the
// dependencies compose adds for links, network_mode, volumes_from), and names the files
// whose edits compose would act on.
func loadProject(ctx context.Context, in ComposeUpInput) (*types.Project, []string, error) {
	var files []string
	for _, f := range in.Files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(in.WorkingDir, f)
		}
		files = append(files, f)
	}
	opts, err := cli.NewProjectOptions(files,
		cli.WithEnv(append(os.Environ(), in.Env...)),
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithName(in.Project),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("read the compose files: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the compose files: %w", err)
	}
	files = append(files, p.ComposeFiles...)
	files = append(files, filepath.Join(p.WorkingDir, ".env"), filepath.Join(in.WorkingDir, ".env"))
	for _, s := range p.Services {
		for _, e := range s.EnvFiles {
			files = append(files, e.Path)
		}
	}
	return p, files, nil
}

// needsCompose says why compose must bring the active services up, or "": each must have
// as many containers as its replicas, each stopped one stopped by this run, and every
// dependency only started.
func needsCompose(p *types.Project, cs []Container, stopped []string) string {
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		var have []Container
		for _, c := range cs {
			if c.Service == name {
				have = append(have, c)
			}
		}
		if want := s.GetScale(); len(have) != want {
			if len(have) == 0 {
				return "service " + name + " has no container"
			}
			return fmt.Sprintf("service %s has %d containers, its replicas are %d", name, len(have), want)
		}
		for _, c := range have {
			if c.State != "running" && !slices.Contains(stopped, c.Name) {
				return c.Name + " was not stopped by this run"
			}
		}
		for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
			if cond := s.DependsOn[dep].Condition; cond != "" && cond != types.ServiceConditionStarted {
				return name + " waits until " + dep + " is " + strings.TrimPrefix(cond, "service_")
			}
		}
	}
	return ""
}

// changedSince says which file was written after the oldest container was made, or "":
// compose would recreate containers from the edited definition.
func changedSince(files []string, oldest time.Time) string {
	for _, f := range files {
		st, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "read " + f + ": " + err.Error()
		}
		if st.ModTime().After(oldest) {
			return f + " changed after the containers were made"
		}
	}
	return ""
}

// startOrder puts each container after the services it depends on.
func startOrder(cs []Container, deps map[string][]string) ([]Container, error) {
	var order []Container
	placed := map[string]bool{}
	for len(order) < len(cs) {
		progressed := false
		for _, c := range cs {
			if placed[c.Name] || slices.ContainsFunc(deps[c.Service], func(d string) bool { return !serviceStarted(cs, placed, d) }) {
				continue
			}
			placed[c.Name] = true
			order = append(order, c)
			progressed = true
		}
		if !progressed {
			return nil, fmt.Errorf("the services' dependencies form a cycle")
		}
	}
	return order, nil
}

// serviceStarted reports whether every container of a service is placed.
func serviceStarted(cs []Container, placed map[string]bool, service string) bool {
	for _, c := range cs {
		if c.Service == service && !placed[c.Name] {
			return false
		}
	}
	return true
}
