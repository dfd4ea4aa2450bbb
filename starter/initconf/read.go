// Package initconf reads a Compose project as `docker compose` resolves it (overrides, env
// files, defaults, volume names) and writes the stack section of rewind.yaml for it, or a
// whole rewind.yaml. It registers nothing and talks to no Docker Engine: it reads files.
package initconf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/errdefs"
	"github.com/compose-spec/compose-go/v2/types"
)

// Options say which compose project to read and how to name its stack.
type Options struct {
	// ComposeFiles are read in order, later ones overriding earlier ones, as `docker
	// compose -f a -f b` does; empty: COMPOSE_FILE, then compose.yaml and its override
	// in the current folder.
	ComposeFiles []string
	// Project is the compose project name; empty: as compose names it (name: in the
	// file, COMPOSE_PROJECT_NAME, the folder's name).
	Project string
	// Stack is the stack's name in rewind.yaml; empty: the project's name.
	Stack string
	// Host is the Docker host the stack runs on (its worker polls rewind@<host>).
	Host string
	// Env is the environment the files are interpolated with, as the operator's shell
	// holds it; .env beside the files is read as compose reads it.
	Env []string
}

// Stack is what the compose project says of one stack, with the backups found beside it.
type Stack struct {
	Name         string
	Project      string
	ComposeFiles []string
	WorkingDir   string
	Host         string
	Services     []Service
	// Volumes are the named volumes services mount, by their key in the compose file.
	Volumes []Volume
	// Unused are named volumes that no service mounts.
	Unused []string
	// StopGracePeriod is the longest a service asks for; 0 when none does.
	StopGracePeriod time.Duration
	Backups         Backups
}

// Service is one compose service: how it is checked and what it publishes.
type Service struct {
	Name  string
	Image string
	// Build is the service's build context and Dockerfile, when it is built from source.
	BuildContext, Dockerfile string
	// Health is its health check's command as written; "" when it has none.
	Health string
	Ports  []Port
	// Volumes are the keys of the named volumes it mounts.
	Volumes []string
	// Binds are host folders it mounts (bind mounts, not volumes Rewind restores).
	Binds []string
}

// Port is a published port.
type Port struct {
	HostIP    string
	Published string
	Target    uint32
	Protocol  string
}

// Volume is a named volume as Docker names it.
type Volume struct {
	Key string
	// Name is the volume's name in `docker volume ls`: <project>_<key> unless the file
	// names it or it is external.
	Name       string
	Driver     string
	DriverOpts map[string]string
	External   bool
	MountedBy  []string
	// Pattern names its backups; Found counts the backups matching it, Guessed says the
	// pattern is the only unclaimed family of backups rather than the runbook's naming.
	Pattern string
	Found   int
	Guessed bool
}

// BindDevice is the host folder a local volume is bound to (driver_opts type none, o
// bind), or "".
func (v Volume) BindDevice() string {
	if cmp.Or(v.Driver, "local") != "local" || v.DriverOpts["type"] != "none" {
		return ""
	}
	if !slices.Contains(strings.Split(v.DriverOpts["o"], ","), "bind") {
		return ""
	}
	return v.DriverOpts["device"]
}

var stackName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Read loads the compose project and the backups beside it.
func Read(ctx context.Context, o Options) (Stack, error) {
	files := strings.Join(o.ComposeFiles, ", ")
	if files == "" {
		files = "the compose files of this folder"
	}
	opts, err := cli.NewProjectOptions(o.ComposeFiles,
		cli.WithEnv(o.Env),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
		cli.WithName(o.Project),
	)
	if err != nil {
		return Stack{}, fmt.Errorf("read compose project from %s: %w", files, err)
	}
	p, err := opts.LoadProject(ctx)
	if len(o.ComposeFiles) == 0 && errors.Is(err, errdefs.ErrNotFound) {
		return Stack{}, fmt.Errorf("find the compose files: none named, COMPOSE_FILE unset, and no %s in this folder: name them", strings.Join(cli.DefaultFileNames, ", "))
	}
	if err != nil {
		return Stack{}, fmt.Errorf("read compose project from %s: %w", files, err)
	}
	s := Stack{Name: cmp.Or(o.Stack, p.Name), Project: p.Name, WorkingDir: p.WorkingDir, Host: o.Host}
	if !stackName.MatchString(s.Name) || strings.HasPrefix(s.Name, "group-") {
		return Stack{}, fmt.Errorf("name the stack %q: want lowercase letters, digits, '-' and '_', not starting with group- (it becomes the workflow ID rewind-<stack>); pass --stack NAME", s.Name)
	}
	for _, f := range p.ComposeFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return Stack{}, fmt.Errorf("resolve compose file %s: %w", f, err)
		}
		s.ComposeFiles = append(s.ComposeFiles, abs)
	}
	mounted := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		svc := p.Services[name]
		s.Services = append(s.Services, readService(svc))
		if g := svc.StopGracePeriod; g != nil && time.Duration(*g) > s.StopGracePeriod {
			s.StopGracePeriod = time.Duration(*g)
		}
		for _, m := range svc.Volumes {
			if m.Type == types.VolumeTypeVolume && m.Source != "" && !slices.Contains(mounted[m.Source], name) {
				mounted[m.Source] = append(mounted[m.Source], name)
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(p.Volumes)) {
		v := p.Volumes[key]
		if len(mounted[key]) == 0 {
			s.Unused = append(s.Unused, key)
			continue
		}
		s.Volumes = append(s.Volumes, Volume{
			Key: key, Name: cmp.Or(v.Name, key), Driver: v.Driver, DriverOpts: v.DriverOpts,
			External: bool(v.External), MountedBy: mounted[key],
		})
	}
	s.Backups, err = findBackups(s)
	if err != nil {
		return Stack{}, err
	}
	matchBackups(&s)
	return s, nil
}

func readService(svc types.ServiceConfig) Service {
	out := Service{Name: svc.Name, Image: svc.Image}
	if b := svc.Build; b != nil {
		out.BuildContext, out.Dockerfile = b.Context, cmp.Or(b.Dockerfile, "Dockerfile")
	}
	if h := svc.HealthCheck; h != nil && len(h.Test) > 0 {
		out.Health = healthCommand(h)
	}
	for _, p := range svc.Ports {
		if p.Published != "" {
			out.Ports = append(out.Ports, Port{HostIP: p.HostIP, Published: p.Published, Target: p.Target, Protocol: cmp.Or(p.Protocol, "tcp")})
		}
	}
	for _, m := range svc.Volumes {
		switch m.Type {
		case types.VolumeTypeVolume:
			if m.Source != "" && !slices.Contains(out.Volumes, m.Source) {
				out.Volumes = append(out.Volumes, m.Source)
			}
		case types.VolumeTypeBind:
			out.Binds = append(out.Binds, m.Source)
		}
	}
	return out
}

// healthCommand is a health check as an operator reads it.
func healthCommand(h *types.HealthCheckConfig) string {
	switch {
	case h.Disable || h.Test[0] == "NONE":
		return "disabled"
	case h.Test[0] == "CMD-SHELL":
		return strings.Join(h.Test[1:], " ")
	case h.Test[0] == "CMD":
		return strings.Join(h.Test[1:], " ")
	}
	return strings.Join(h.Test, " ")
}
