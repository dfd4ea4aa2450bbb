// Package hostcheck looks at a Docker host for `rewind doctor`: the engine, the compose
// CLI, the stack's volumes and the free disk under the engine's data root. The rest of
// the CLI talks to Temporal, never to Docker (the worker owns the host); this package is
// apart so that only doctor imports it, and it only reads.
package hostcheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// DefaultSocket is where a local engine listens when DOCKER_HOST is unset.
const DefaultSocket = "/var/run/docker.sock"

// Host is the Docker Engine of this machine.
type Host struct {
	engine *client.Client
	// local is whether the engine's files are on this machine's filesystems, so their
	// free space can be measured here.
	local bool
}

// Volume is what the engine says of one volume.
type Volume struct {
	Exists bool
	// Size is the bytes its data takes, -1 when the engine did not measure it.
	Size   int64
	Driver string
}

// Open connects to the engine named by DOCKER_HOST or the local socket. Without either
// this is not a Docker host (a laptop): Open returns nil and says why, and no error.
func Open(ctx context.Context) (*Host, string, error) {
	return open(ctx, os.Getenv("DOCKER_HOST"), DefaultSocket)
}

func open(ctx context.Context, dockerHost, socket string) (*Host, string, error) {
	if dockerHost == "" {
		if _, err := os.Stat(socket); err != nil {
			return nil, "no DOCKER_HOST and no " + socket, nil
		}
	}
	opts := []client.Opt{client.FromEnv}
	if dockerHost != "" {
		opts = append(opts, client.WithHost(dockerHost))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, "", fmt.Errorf("create docker client: %w", err)
	}
	if _, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		c.Close()
		return nil, "", fmt.Errorf("reach the docker engine at %s: %w", c.DaemonHost(), err)
	}
	return &Host{engine: c, local: dockerHost == "" || strings.HasPrefix(dockerHost, "unix://")}, "", nil
}

// Close releases the engine's connection.
func (h *Host) Close() error { return h.engine.Close() }

// Describe names the engine: where it listens and its version.
func (h *Host) Describe(ctx context.Context) (string, error) {
	v, err := h.engine.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", fmt.Errorf("read the engine's version: %w", err)
	}
	return fmt.Sprintf("Docker Engine %s (API %s) at %s", v.Version, v.APIVersion, h.engine.DaemonHost()), nil
}

// Volumes says, for each name, whether the volume exists and how much its data takes.
func (h *Host) Volumes(ctx context.Context, names []string) (map[string]Volume, error) {
	out := make(map[string]Volume, len(names))
	for _, name := range names {
		res, err := h.engine.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			out[name] = Volume{Size: -1}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inspect volume %s: %w", name, err)
		}
		out[name] = Volume{Exists: true, Size: -1, Driver: res.Volume.Driver}
	}
	// Sizes come from the engine's disk usage, which measures every volume at once.
	usage, err := h.engine.DiskUsage(ctx, client.DiskUsageOptions{Volumes: true, Verbose: true})
	if err != nil {
		return out, fmt.Errorf("read the engine's disk usage: %w", err)
	}
	for _, v := range usage.Volumes.Items {
		if got, ok := out[v.Name]; ok && got.Exists && v.UsageData != nil && v.UsageData.Size >= 0 {
			got.Size = v.UsageData.Size
			out[v.Name] = got
		}
	}
	return out, nil
}

// ErrRemoteEngine says the engine's disk is on another machine and cannot be measured here.
var ErrRemoteEngine = errors.New("the engine runs on another machine (DOCKER_HOST)")

// DataRoot is the engine's data root (where volumes and staging volumes live) and the
// bytes free on its filesystem for an unprivileged writer.
func (h *Host) DataRoot(ctx context.Context) (string, int64, error) {
	info, err := h.engine.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("read the engine's data root: %w", err)
	}
	root := info.Info.DockerRootDir
	if !h.local {
		return root, 0, ErrRemoteEngine
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return root, 0, fmt.Errorf("measure the free space under %s: %w", root, err)
	}
	return root, int64(st.Bavail) * int64(st.Bsize), nil
}

// Compose finds the compose CLI (command as configured, else `docker compose`, then
// `docker-compose`) and its version.
func Compose(ctx context.Context, command []string) ([]string, string, error) {
	candidates := [][]string{{"docker", "compose"}, {"docker-compose"}}
	if len(command) > 0 {
		candidates = [][]string{command}
	}
	var failures []string
	for _, cmd := range candidates {
		args := append(append([]string{}, cmd[1:]...), "version", "--short")
		out, err := exec.CommandContext(ctx, cmd[0], args...).Output()
		if err == nil {
			return cmd, strings.TrimSpace(string(out)), nil
		}
		failures = append(failures, fmt.Sprintf("`%s version`: %v", strings.Join(cmd, " "), err))
	}
	return nil, "", fmt.Errorf("run the compose CLI: %s", strings.Join(failures, "; "))
}
