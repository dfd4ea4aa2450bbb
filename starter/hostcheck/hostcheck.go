// Package hostcheck looks at a Docker host for `rewind doctor`: the engine, the compose
// CLI, the stack's volumes and the free disk under the engine's data root. The rest of
// the CLI talks to Temporal, never to Docker (the worker owns the host); this package is
// apart so that only doctor imports it, and it only reads.
package hostcheck

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultSocket is where a local engine listens when DOCKER_HOST is unset.
const DefaultSocket = "/var/run/docker.sock"

// Host is the Docker Engine of this machine, read through its HTTP API: doctor needs five
// reads, which keep the Engine's client library (and its dependencies) out of the CLI.
type Host struct {
	http *http.Client
	// base is the API's URL; daemon names the engine as DOCKER_HOST would.
	base, daemon string
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
		dockerHost = "unix://" + socket
	}
	h, err := dial(dockerHost)
	if err != nil {
		return nil, "", err
	}
	var pong string
	if err := h.get(ctx, "/_ping", &pong); err != nil {
		h.Close()
		return nil, "", fmt.Errorf("reach the docker engine at %s: %w", h.daemon, err)
	}
	return h, "", nil
}

// dial makes the HTTP client for a DOCKER_HOST: unix://PATH, or tcp://HOST:PORT with TLS
// when DOCKER_TLS_VERIFY or DOCKER_CERT_PATH say so, as the docker CLI reads them.
func dial(dockerHost string) (*Host, error) {
	u, err := url.Parse(dockerHost)
	if err != nil {
		return nil, fmt.Errorf("read DOCKER_HOST %q: %w", dockerHost, err)
	}
	// No client timeout: measuring large volumes takes as long as it takes; ctx bounds it.
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment}
	h := &Host{daemon: dockerHost, http: &http.Client{Transport: transport}}
	switch u.Scheme {
	case "unix":
		path := u.Path
		transport.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}
		h.base, h.local = "http://docker", true
	case "tcp", "http", "https":
		h.base = "http://" + u.Host
		verify := os.Getenv("DOCKER_TLS_VERIFY") != ""
		if dir := os.Getenv("DOCKER_CERT_PATH"); dir != "" || verify || u.Scheme == "https" {
			cfg, err := tlsConfig(dir, verify)
			if err != nil {
				return nil, err
			}
			transport.TLSClientConfig = cfg
			h.base = "https://" + u.Host
		}
	default:
		return nil, fmt.Errorf("read DOCKER_HOST %q: doctor reaches engines at unix:// or tcp:// addresses; for ssh:// run doctor on that host", dockerHost)
	}
	return h, nil
}

// tlsConfig reads ca.pem, cert.pem and key.pem from dir (DOCKER_CERT_PATH, else ~/.docker)
// and checks the engine's certificate only when verify (DOCKER_TLS_VERIFY) is set, as the
// docker CLI does.
func tlsConfig(dir string, verify bool) (*tls.Config, error) {
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".docker")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !verify}
	if verify {
		ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
		if err != nil {
			return nil, fmt.Errorf("read the engine's CA for DOCKER_TLS_VERIFY: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		cfg.RootCAs.AppendCertsFromPEM(ca)
	}
	if _, err := os.Stat(filepath.Join(dir, "cert.pem")); err == nil {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		if err != nil {
			return nil, fmt.Errorf("load the docker client certificate in %s: %w", dir, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// errNotFound is the engine's 404.
var errNotFound = errors.New("not found")

// get reads path from the engine's API into out (a *string takes the body as it is).
func (h *Host) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
	if err != nil {
		return err
	}
	res, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return err
	}
	switch {
	case res.StatusCode == http.StatusNotFound:
		return errNotFound
	case res.StatusCode != http.StatusOK:
		var e struct{ Message string }
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s: %s", res.Status, e.Message)
		}
		return errors.New(res.Status)
	}
	if s, ok := out.(*string); ok {
		*s = string(body)
		return nil
	}
	return json.Unmarshal(body, out)
}

// Close releases the engine's connections.
func (h *Host) Close() error {
	h.http.CloseIdleConnections()
	return nil
}

// Describe names the engine: where it listens and its version.
func (h *Host) Describe(ctx context.Context) (string, error) {
	var v struct {
		Version    string
		APIVersion string `json:"ApiVersion"`
	}
	if err := h.get(ctx, "/version", &v); err != nil {
		return "", fmt.Errorf("read the engine's version: %w", err)
	}
	return fmt.Sprintf("Docker Engine %s (API %s) at %s", v.Version, v.APIVersion, h.daemon), nil
}

// Volumes says, for each name, whether the volume exists and how much its data takes.
func (h *Host) Volumes(ctx context.Context, names []string) (map[string]Volume, error) {
	out := make(map[string]Volume, len(names))
	for _, name := range names {
		var v struct{ Driver string }
		err := h.get(ctx, "/volumes/"+url.PathEscape(name), &v)
		if errors.Is(err, errNotFound) {
			out[name] = Volume{Size: -1}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("inspect volume %s: %w", name, err)
		}
		out[name] = Volume{Exists: true, Size: -1, Driver: v.Driver}
	}
	// Sizes come from the engine's disk usage, which measures every volume at once. Engines
	// before API 1.52 list them under Volumes; later ones under VolumeUsage.Items, verbose.
	type volumeUsage struct {
		Name      string
		UsageData *struct{ Size int64 }
	}
	var usage struct {
		Volumes     []volumeUsage
		VolumeUsage *struct{ Items []volumeUsage }
	}
	if err := h.get(ctx, "/system/df?type=volume&verbose=1", &usage); err != nil {
		return out, fmt.Errorf("read the engine's disk usage: %w", err)
	}
	measured := usage.Volumes
	if usage.VolumeUsage != nil {
		measured = append(measured, usage.VolumeUsage.Items...)
	}
	for _, v := range measured {
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
	var info struct{ DockerRootDir string }
	if err := h.get(ctx, "/info", &info); err != nil {
		return "", 0, fmt.Errorf("read the engine's data root: %w", err)
	}
	root := info.DockerRootDir
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
