// Package demostack builds the AlgoTrendy demo stack's images from source and drives the
// stack with the compose CLI, for `make demo` and the integration tests.
package demostack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/activities/docker"
)

// Images the demo compose file runs.
const (
	DBImage  = "algotrendy-questdb:local"
	APIImage = "algotrendy-api" // tagged v2.6-prod by default, like the runbook's
)

// Root is the folder of the demo stack inside the repository.
func Root() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("locate the demo stack's source")
	}
	return filepath.Dir(filepath.Dir(file)), nil
}

// ComposeFile is the demo stack's compose file.
func ComposeFile() (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "docker-compose.prod.yml"), nil
}

// BuildImages compiles the demo's static binaries and builds FROM-scratch images of them
// through the Engine API; no image is pulled. apiTags are the tags of the api image.
func BuildImages(ctx context.Context, engine *client.Client, apiTags ...string) error {
	if len(apiTags) == 0 {
		apiTags = []string{"v2.6-prod"}
	}
	tmp, err := os.MkdirTemp("", "rewind-demo-build-")
	if err != nil {
		return fmt.Errorf("create build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	var tags []string
	for _, t := range apiTags {
		tags = append(tags, APIImage+":"+t)
	}
	for _, img := range []struct {
		pkg, bin string
		tags     []string
	}{
		{"market-db", "market-db", []string{DBImage}},
		{"api", "api", tags},
	} {
		out := filepath.Join(tmp, img.bin)
		if err := Compile(ctx, img.pkg, out); err != nil {
			return err
		}
		if err := buildImage(ctx, engine, out, img.bin, img.tags); err != nil {
			return err
		}
	}
	return nil
}

// Compile builds one of the demo's programs ("api" or "market-db") as a static binary.
func Compile(ctx context.Context, program, out string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	build.Dir = filepath.Join(root, program)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("compile %s: %w\n%s", program, err, b)
	}
	return nil
}

func buildImage(ctx context.Context, engine *client.Client, binary, name string, tags []string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return fmt.Errorf("read %s: %w", binary, err)
	}
	dockerfile := fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", name, name, name)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {name, 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body))}); err != nil {
			return fmt.Errorf("pack build context of %s: %w", name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return fmt.Errorf("pack build context of %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack build context of %s: %w", name, err)
	}
	res, err := engine.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: tags, Remove: true, ForceRemove: true})
	if err != nil {
		return fmt.Errorf("build image %v: %w", tags, err)
	}
	defer res.Body.Close()
	if err := docker.ReadBuildOutput(res.Body, nil); err != nil {
		return fmt.Errorf("build image %v: %w", tags, err)
	}
	return nil
}

// Compose runs the compose CLI on the demo stack under project.
type Compose struct {
	Command []string
	Project string
	File    string
	// Overrides are more compose files, applied over File in order.
	Overrides []string
	Env       []string
}

// Run runs one compose command and returns its combined output on failure.
func (c Compose) Run(ctx context.Context, args ...string) error {
	full := append(append([]string{}, c.Command[1:]...), "-p", c.Project, "-f", c.File)
	for _, o := range c.Overrides {
		full = append(full, "-f", o)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, c.Command[0], full...)
	cmd.Dir = filepath.Dir(c.File)
	cmd.Env = append(os.Environ(), c.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v %v: %w\n%s", c.Command, args, err, b)
	}
	return nil
}

// WaitHealthy waits until every container of the project reports healthy, watching the
// engine's health events rather than polling on a timer.
func WaitHealthy(ctx context.Context, engine *client.Client, project string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	filter := make(client.Filters).Add("label", "com.docker.compose.project="+project)
	events := engine.Events(ctx, client.EventsListOptions{Filters: filter.Clone().Add("type", "container")})
	for {
		list, err := engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filter})
		if err != nil {
			return fmt.Errorf("list containers of %s: %w", project, err)
		}
		var waiting []string
		for _, c := range list.Items {
			// Summaries carry no health on older engines (API < 1.52): inspect instead.
			info, err := engine.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
			if err != nil {
				return fmt.Errorf("inspect %s: %w", c.ID[:12], err)
			}
			st := info.Container.State
			if st == nil || st.Health == nil || st.Health.Status != "healthy" {
				status := "no health"
				if st != nil && st.Health != nil {
					status = string(st.Health.Status)
				}
				waiting = append(waiting, fmt.Sprintf("%s (%s)", c.Names[0], status))
			}
		}
		if len(list.Items) > 0 && len(waiting) == 0 {
			return nil
		}
		select {
		case <-events.Messages:
		case err := <-events.Err:
			return fmt.Errorf("wait for %s to be healthy, still waiting for %v: %w", project, waiting, err)
		}
	}
}
