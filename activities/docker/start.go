package docker

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"
	"gopkg.in/yaml.v3"

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
	// NeedsCompose, when set, says why nothing was started: a service has no container
	// (compose must make it), or compose must order the start (a dependency waits on
	// health or completion), or the compose files cannot be read.
	NeedsCompose string `json:",omitempty"`
}

// StartProject is `compose up -d` for a project whose definition and containers are those
// it had when it stopped, as after a full rollback's swap: it starts the stopped service
// containers through the Engine API, each after the services it depends on, and runs no
// compose process. Starting a running container is done already, so a retry is safe.
func (a *Activities) StartProject(ctx context.Context, in ComposeUpInput) (StartResult, error) {
	if in.Project == "" || len(in.Files) == 0 {
		return StartResult{}, temporal.NewNonRetryableApplicationError("start needs a project and at least one compose file", failure.BadInput, nil)
	}
	services, err := servicesInFiles(in.Files, in.WorkingDir)
	if err != nil {
		return StartResult{NeedsCompose: err.Error()}, nil
	}
	list, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", ProjectLabel+"="+in.Project)})
	if err != nil {
		return StartResult{}, fmt.Errorf("list containers of project %s: %w", in.Project, err)
	}
	var cs []Container
	for _, c := range list.Items {
		if c.Labels[oneoffLabel] != "True" {
			cs = append(cs, summarize(c))
		}
	}
	slices.SortFunc(cs, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	deps := map[string][]string{}
	for name, s := range services {
		if len(s.Profiles) > 0 {
			continue // started only when its profile is asked for
		}
		if !slices.ContainsFunc(cs, func(c Container) bool { return c.Service == name }) {
			return StartResult{NeedsCompose: "service " + name + " has no container"}, nil
		}
		for dep, condition := range s.dependsOn {
			if condition != "service_started" {
				return StartResult{NeedsCompose: name + " waits until " + dep + " is " + strings.TrimPrefix(condition, "service_")}, nil
			}
			deps[name] = append(deps[name], dep)
		}
	}
	order, err := startOrder(cs, deps)
	if err != nil {
		return StartResult{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, err)
	}
	var res StartResult
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
			return nil, fmt.Errorf("the services' depends_on form a cycle")
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

// composeService is what starting needs of a service in the compose files.
type composeService struct {
	Profiles  []string  `yaml:"profiles"`
	DependsOn yaml.Node `yaml:"depends_on"`
	// dependsOn is each dependency's condition, "service_started" unless said.
	dependsOn map[string]string
}

// servicesInFiles reads the services of the compose files, later files adding to earlier
// ones as compose merges them.
func servicesInFiles(files []string, dir string) (map[string]*composeService, error) {
	services := map[string]*composeService{}
	for _, f := range files {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read the compose file: %w", err)
		}
		var doc struct {
			Services map[string]composeService `yaml:"services"`
		}
		if err := yaml.Unmarshal(body, &doc); err != nil {
			return nil, fmt.Errorf("read the services in %s: %w", f, err)
		}
		for name, s := range doc.Services {
			have := services[name]
			if have == nil {
				have = &composeService{dependsOn: map[string]string{}}
				services[name] = have
			}
			have.Profiles = append(have.Profiles, s.Profiles...)
			on := s.DependsOn
			switch on.Kind {
			case yaml.SequenceNode:
				for _, n := range on.Content {
					have.dependsOn[n.Value] = "service_started"
				}
			case yaml.MappingNode:
				for i := 0; i+1 < len(on.Content); i += 2 {
					var dep struct{ Condition string }
					if err := on.Content[i+1].Decode(&dep); err != nil {
						return nil, fmt.Errorf("read depends_on of %s in %s: %w", name, f, err)
					}
					have.dependsOn[on.Content[i].Value] = cmp.Or(dep.Condition, "service_started")
				}
			}
		}
	}
	return services, nil
}
