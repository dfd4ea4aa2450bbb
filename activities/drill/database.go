package drill

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
)

// Staged is one of the stack's volumes and the drill volume that stands for it.
type Staged struct {
	For     string
	Staging string
}

// DatabaseInput says whose database to copy and what to start it on. The image, command
// and environment are read from the project's own container on this host, never taken
// from the input.
type DatabaseInput struct {
	Project string
	Run     string
	Volumes []Staged
	// DatabaseURL is the stack's checks.database_url: its port says which of the
	// container's ports the database serves on.
	DatabaseURL string
}

// Throwaway is the database a drill started.
type Throwaway struct {
	Container string
	Network   string
	Service   string
	Image     string
}

// StartThrowaway starts a copy of the project's database container (the one that mounts
// the stack's volumes) from the same image and configuration, with the drill's volumes in
// their place, on a network of its own and with no port published. A retry finds what an
// earlier attempt made.
func (a *Activities) StartThrowaway(ctx context.Context, in DatabaseInput) (Throwaway, error) {
	if in.Project == "" || in.Run == "" || len(in.Volumes) == 0 {
		return Throwaway{}, temporal.NewNonRetryableApplicationError("a throwaway database needs a project, a run and its volumes", failure.BadInput, nil)
	}
	live, err := a.databaseContainer(ctx, in.Project, in.Volumes)
	if err != nil {
		return Throwaway{}, err
	}
	name := Name(runID(in.Run))
	labels := map[string]string{RunLabel: in.Run, ProjectLabel: in.Project}
	if err := a.ensureNetwork(ctx, name, labels); err != nil {
		return Throwaway{}, err
	}
	cfg := live.Config
	labels[PortLabel] = servingPort(live, in.DatabaseURL)
	mounts, err := drillMounts(live, in.Volumes)
	if err != nil {
		return Throwaway{}, err
	}
	opts := client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: live.Image, Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, User: cfg.User,
			WorkingDir: cfg.WorkingDir, ExposedPorts: cfg.ExposedPorts, StopSignal: cfg.StopSignal, Labels: labels,
		},
		// No ports, no restart policy, none of the live container's networks.
		HostConfig: &container.HostConfig{Mounts: mounts, NetworkMode: container.NetworkMode(name)},
	}
	id, err := engine.CreateOnce(ctx, a.Engine, opts)
	if err != nil {
		return Throwaway{}, fmt.Errorf("create the throwaway database from %s: %w", strings.TrimPrefix(live.Name, "/"), err)
	}
	if _, err := a.Engine.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return Throwaway{}, fmt.Errorf("start the throwaway database %s: %w", name, err)
	}
	return Throwaway{Container: name, Network: name, Service: cfg.Labels[docker.ServiceLabel], Image: cfg.Image}, nil
}

// runID is the run ID of a run key (workflow ID/run ID).
func runID(run string) string {
	_, id, _ := strings.Cut(run, "/")
	return id
}

// databaseContainer is the project's container that mounts the first of the stack's
// volumes: the database whose backups these are.
func (a *Activities) databaseContainer(ctx context.Context, project string, vols []Staged) (container.InspectResponse, error) {
	list, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+project)})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("list containers of project %s: %w", project, err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return engine.ContainerName(list.Items[i]) < engine.ContainerName(list.Items[j]) })
	for _, c := range list.Items {
		res, err := a.Engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if engine.Gone(err) {
			continue
		}
		if err != nil {
			return container.InspectResponse{}, fmt.Errorf("inspect container %s for its volumes: %w", engine.ContainerName(c), err)
		}
		for _, m := range res.Container.Mounts {
			if m.Type == mount.TypeVolume && m.Name == vols[0].For {
				return res.Container, nil
			}
		}
	}
	return container.InspectResponse{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"no container of project %s mounts volume %s, so the drill has no database to copy (its image and configuration); bring the stack up once, then drill again",
		project, vols[0].For), failure.BadInput, nil)
}

// drillMounts are the live container's mounts with each of the stack's volumes replaced
// by its drill volume. Files it binds (configuration) are bound read-only; a volume of
// the stack that was not restored is not mounted at all, and nor is any other volume.
func drillMounts(live container.InspectResponse, vols []Staged) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, m := range live.Mounts {
		switch m.Type {
		case mount.TypeVolume:
			i := slices.IndexFunc(vols, func(s Staged) bool { return s.For == m.Name })
			if i >= 0 {
				out = append(out, mount.Mount{Type: mount.TypeVolume, Source: vols[i].Staging, Target: m.Destination})
			}
		case mount.TypeBind:
			out = append(out, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Destination, ReadOnly: true})
		}
	}
	if !slices.ContainsFunc(out, func(m mount.Mount) bool { return m.Type == mount.TypeVolume }) {
		return nil, temporal.NewNonRetryableApplicationError("the database container mounts none of the drilled volumes", failure.BadInput, nil)
	}
	return out, nil
}

// servingPort is the container port the database serves on: the one published on the
// port of the stack's database URL, else that port itself.
func servingPort(live container.InspectResponse, databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443", "postgres": "5432", "postgresql": "5432"}[u.Scheme]
	}
	if live.HostConfig != nil {
		for p, bindings := range live.HostConfig.PortBindings {
			for _, b := range bindings {
				if b.HostPort == port {
					return p.Port()
				}
			}
		}
	}
	return port
}

func (a *Activities) ensureNetwork(ctx context.Context, name string, labels map[string]string) error {
	if _, err := a.Engine.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err == nil {
		return nil
	} else if !engine.Gone(err) {
		return fmt.Errorf("inspect the drill's network %s: %w", name, err)
	}
	_, err := a.Engine.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Internal: true, Labels: labels})
	if err != nil && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("create the drill's network %s: %w", name, err)
	}
	return nil
}

// CheckInput runs the stack's data check against the drill's throwaway database.
type CheckInput struct {
	Run string
	// DatabaseURL and Query are the stack's checks.database_url and data_query; the URL's
	// host and port are replaced by the throwaway's on its network.
	DatabaseURL string
	Query       string
	// Timeout is how long the database may take to come up (checks.health_timeout).
	Timeout time.Duration
}

// Checked is what the throwaway database answered.
type Checked struct {
	Evidence string
}

// answeredGrace is how long a database that answers, but not with the data, gets to
// finish starting before the drill holds it broken.
const answeredGrace = 15 * time.Second

// CheckThrowaway waits for the throwaway database to answer and runs the data check
// against it: the first value above zero passes. A database that exits, or answers
// without the data for answeredGrace, fails the drill (Failed), with the last lines of its
// log. One that never answers within the timeout says nothing of the backup (a slow host
// is no bad backup): that is an error of the host, with no verdict. The verdict is kept
// on this host for RecordDrill.
func (a *Activities) CheckThrowaway(ctx context.Context, in CheckInput) (Checked, error) {
	res, err := a.check(ctx, in)
	switch {
	case err == nil:
		err = a.observe(in.Run, func(o *observed) { o.Checked = &verdict{OK: true, Detail: res.Evidence} })
	case IsFailed(err):
		if oerr := a.observe(in.Run, func(o *observed) { o.Checked = &verdict{Detail: message(err)} }); oerr != nil {
			return res, oerr
		}
	}
	return res, err
}

func (a *Activities) check(ctx context.Context, in CheckInput) (Checked, error) {
	name := Name(runID(in.Run))
	res, err := a.Engine.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return Checked{}, fmt.Errorf("inspect the throwaway database %s: %w", name, err)
	}
	if res.Container.Config.Labels[RunLabel] != in.Run {
		return Checked{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("container %s is not this drill's", name), failure.BadInput, nil)
	}
	target, err := throwawayURL(res.Container, name, in.DatabaseURL)
	if err != nil {
		return Checked{}, err
	}
	deadline := time.Now().Add(max(in.Timeout, answeredGrace))
	var answeredAt time.Time
	last := ""
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		activity.RecordHeartbeat(ctx, last)
		row, err := probe.QueryRow(ctx, a.http(), target, in.Query)
		if err == nil {
			got := probe.Row(row)
			n, perr := strconv.ParseFloat(probe.Row(row[:1]), 64)
			if perr == nil && n > 0 {
				return Checked{Evidence: fmt.Sprintf("%s → %s", in.Query, got)}, nil
			}
			last = fmt.Sprintf("%s → %s, where the check wants a first value above zero", in.Query, got)
		} else {
			last = fmt.Sprintf("%s: %v", in.Query, err)
		}
		if err == nil || !unanswered(err) {
			if answeredAt.IsZero() {
				answeredAt = time.Now()
			}
			if time.Since(answeredAt) > answeredGrace {
				return Checked{}, condemned("the restored database answers but not with the data: %s%s", last, a.logTail(ctx, name))
			}
		}
		st, err := a.Engine.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			return Checked{}, fmt.Errorf("inspect the throwaway database %s: %w", name, err)
		}
		if s := st.Container.State; s != nil && !s.Running {
			return Checked{}, condemned("the restored database did not start: it exited with code %d%s", s.ExitCode, a.logTail(ctx, name))
		}
		if time.Now().After(deadline) {
			return Checked{}, gaveUp(!answeredAt.IsZero(), in.Timeout, last+a.logTail(ctx, name))
		}
		select {
		case <-ctx.Done():
			return Checked{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// gaveUp is the check's error when its time is up: a database that answered without the
// data condemns the backup; one that never answered says nothing of it (a slow host).
func gaveUp(answered bool, timeout time.Duration, last string) error {
	if answered {
		return condemned("the restored database answers but not with the data: %s", last)
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"the restored database did not answer within %s (checks.health_timeout), which says nothing of the backup; raise checks.health_timeout if this host is slow: %s",
		timeout, last), Inconclusive, nil)
}

// throwawayURL is the stack's database URL pointed at the throwaway on its network.
func throwawayURL(c container.InspectResponse, network, databaseURL string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil || u.Host == "" {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("checks.database_url %q is no URL the drill can point at its database; set it", databaseURL), failure.BadInput, nil)
	}
	var ip string
	if ns := c.NetworkSettings; ns != nil {
		if ep, ok := ns.Networks[network]; ok && ep != nil && ep.IPAddress.IsValid() {
			ip = ep.IPAddress.String()
		}
	}
	if ip == "" {
		return "", fmt.Errorf("the throwaway database has no address on network %s yet", network)
	}
	u.Host = net.JoinHostPort(ip, c.Config.Labels[PortLabel])
	return u.String(), nil
}

// unanswered says the database did not answer at all (not listening yet).
func unanswered(err error) bool {
	var uerr *url.Error
	var nerr *net.OpError
	return errors.As(err, &uerr) || errors.As(err, &nerr) || strings.Contains(err.Error(), "connect to PostgreSQL")
}

// logTail is the last lines of the throwaway's log, as ": log: ..." or "".
func (a *Activities) logTail(ctx context.Context, name string) string {
	rc, err := a.Engine.ContainerLogs(ctx, name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "5"})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return ""
	}
	lines := strings.Fields(strings.ReplaceAll(strings.TrimSpace(out.String()), "\n", " ⏎ "))
	if len(lines) == 0 {
		return ""
	}
	return "; its log: " + strings.Join(lines, " ")
}
