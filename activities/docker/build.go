package docker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/go-archive"
	"github.com/moby/moby/client"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/engine"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/heartbeat"
	"github.com/algotrendy/rewind/meter"
)

// defaultMaxContext is the largest build context sent unless the stack says otherwise.
const defaultMaxContext = 512 << 20

// BuildInput is the runbook's `docker build -f backend/Dockerfile -t algotrendy-api:v2.5 .`.
type BuildInput struct {
	// Context is the build folder on the Docker host's worker; Dockerfile is relative to it.
	Context    string
	Dockerfile string
	Tag        string
	// MaxContext refuses a context larger than this many bytes; 0: 512 MiB.
	MaxContext int64 `json:",omitempty"`
}

// BuildResult names the image built and what its context held.
type BuildResult struct {
	Tag          string
	ImageID      string
	ContextFiles int   `json:",omitempty"`
	ContextBytes int64 `json:",omitempty"`
}

// BuildImage builds through the Engine API with the context `docker build` would send:
// .dockerignore honoured (the Dockerfile and .dockerignore always sent), symlinks kept as
// symlinks. A context over the limit is refused before anything is sent, naming its
// biggest folders; the engine's layer cache makes a retry cheap.
func (a *Activities) BuildImage(ctx context.Context, in BuildInput) (BuildResult, error) {
	if in.Context == "" || in.Tag == "" {
		return BuildResult{}, temporal.NewNonRetryableApplicationError("build needs a context folder and a tag", failure.BadInput, nil)
	}
	dockerfile := filepath.ToSlash(filepath.Clean(cmp.Or(in.Dockerfile, "Dockerfile")))
	if _, err := os.Stat(filepath.Join(in.Context, dockerfile)); err != nil {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no %s in %s: %v", dockerfile, in.Context, err), failure.BadInput, err)
	}
	excludes, err := buildExcludes(in.Context, dockerfile)
	if err != nil {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadInput, err)
	}
	files, size, biggest, err := contextSize(in.Context, excludes)
	if err != nil {
		return BuildResult{}, fmt.Errorf("measure the build context %s: %w", in.Context, err)
	}
	if limit := cmp.Or(in.MaxContext, defaultMaxContext); size > limit {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"the build context %s holds %s, over the limit of %s; its biggest folders: %s. Add them to .dockerignore, or raise stacks.<stack>.build.max_context",
			in.Context, meter.MiB(size), meter.MiB(limit), strings.Join(biggest, ", ")), failure.ContextTooLarge, nil)
	}
	tarball, err := archive.TarWithOptions(in.Context, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return BuildResult{}, fmt.Errorf("pack the build context %s: %w", in.Context, err)
	}
	defer tarball.Close()
	res, err := a.Engine.ImageBuild(ctx, tarball, client.ImageBuildOptions{Tags: []string{in.Tag}, Dockerfile: dockerfile, Remove: true, ForceRemove: true})
	if err != nil {
		return BuildResult{}, fmt.Errorf("build %s from %s: %w", in.Tag, in.Context, err)
	}
	defer res.Body.Close()
	if err := ReadBuildOutput(res.Body, func() { heartbeat.Beat(ctx, "building "+in.Tag) }); err != nil {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("build %s: %v", in.Tag, err), failure.BadInput, err)
	}
	info, err := a.Engine.ImageInspect(ctx, in.Tag)
	if err != nil {
		return BuildResult{}, fmt.Errorf("inspect built image %s: %w", in.Tag, err)
	}
	return BuildResult{Tag: in.Tag, ImageID: info.ID, ContextFiles: files, ContextBytes: size}, nil
}

// buildExcludes reads the ignore file as `docker build` does: the Dockerfile's own
// (backend/Dockerfile.dockerignore) before the context's .dockerignore, and the
// Dockerfile and .dockerignore sent whatever it says.
func buildExcludes(dir, dockerfile string) ([]string, error) {
	for _, name := range []string{dockerfile + ".dockerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		defer f.Close()
		excludes, err := ignorefile.ReadAll(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, name), err)
		}
		return append(excludes, "!"+dockerfile, "!.dockerignore"), nil
	}
	return nil, nil
}

// contextSize walks what the context holds after excludes: entries other than folders,
// bytes, and its five biggest top-level folders, for a refusal that says what to exclude.
func contextSize(dir string, excludes []string) (int, int64, []string, error) {
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return 0, 0, nil, err
	}
	var files int
	var total int64
	byFolder := map[string]int64{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			files++
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
			top, _, _ := strings.Cut(rel, "/")
			if top != rel {
				byFolder[top+"/"] += info.Size()
			}
		}
		return nil
	})
	folders := make([]string, 0, len(byFolder))
	for f := range byFolder {
		folders = append(folders, f)
	}
	slices.SortFunc(folders, func(x, y string) int { return int(byFolder[y] - byFolder[x]) })
	var biggest []string
	for _, f := range folders[:min(5, len(folders))] {
		biggest = append(biggest, fmt.Sprintf("%s (%s)", f, meter.MiB(byFolder[f])))
	}
	return files, total, biggest, err
}

// ReadBuildOutput drains the engine's build stream and returns the build's own error.
func ReadBuildOutput(r io.Reader, progress func()) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("read build output: %w", err)
		}
		if msg.Error != "" {
			return errors.New(strings.TrimSpace(msg.Error))
		}
		if progress != nil {
			progress()
		}
	}
}

// ProjectInput names a compose project.
type ProjectInput struct {
	Project string
}

// Mounts are the host folders the project's containers bind-mount.
type Mounts struct {
	HostPaths []string
}

// ProjectMounts lists the host folders the project's containers bind-mount: what a code
// rollback must never move or stash away.
func (a *Activities) ProjectMounts(ctx context.Context, in ProjectInput) (Mounts, error) {
	cs, err := a.projectContainers(ctx, in.Project, true)
	if err != nil {
		return Mounts{}, err
	}
	var out Mounts
	for _, c := range cs {
		info, err := a.inspect(ctx, c)
		if err != nil {
			if engine.Gone(err) {
				continue
			}
			return Mounts{}, fmt.Errorf("inspect %s: %w", c.Name, err)
		}
		for _, m := range info.Container.Mounts {
			if m.Type == "bind" && !slices.Contains(out.HostPaths, m.Source) {
				out.HostPaths = append(out.HostPaths, m.Source)
			}
		}
	}
	slices.Sort(out.HostPaths)
	return out, nil
}
