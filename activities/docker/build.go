package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/progress"
)

// BuildInput is the runbook's `docker build -f backend/Dockerfile -t algotrendy-api:v2.5 .`.
type BuildInput struct {
	// Context is the build folder on the Docker host's worker; Dockerfile is relative to it.
	Context    string
	Dockerfile string
	Tag        string
}

// BuildResult names the image built.
type BuildResult struct {
	Tag     string
	ImageID string
}

// BuildImage builds through the Engine API, streaming the context as a tar; the engine's
// layer cache makes a retry cheap.
func (a *Activities) BuildImage(ctx context.Context, in BuildInput) (BuildResult, error) {
	if in.Context == "" || in.Tag == "" {
		return BuildResult{}, temporal.NewNonRetryableApplicationError("build needs a context folder and a tag", ErrBadInput, nil)
	}
	dockerfile := in.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if _, err := os.Stat(filepath.Join(in.Context, dockerfile)); err != nil {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("no %s in %s: %v", dockerfile, in.Context, err), ErrBadInput, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarFolder(in.Context, pw)) }()
	res, err := a.Engine.ImageBuild(ctx, pr, client.ImageBuildOptions{Tags: []string{in.Tag}, Dockerfile: filepath.ToSlash(dockerfile), Remove: true, ForceRemove: true})
	if err != nil {
		pr.CloseWithError(err)
		return BuildResult{}, fmt.Errorf("build %s from %s: %w", in.Tag, in.Context, err)
	}
	defer res.Body.Close()
	if err := ReadBuildOutput(res.Body, func() { progress.Beat(ctx, "building "+in.Tag) }); err != nil {
		return BuildResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("build %s: %v", in.Tag, err), ErrBadInput, err)
	}
	info, err := a.Engine.ImageInspect(ctx, in.Tag)
	if err != nil {
		return BuildResult{}, fmt.Errorf("inspect built image %s: %w", in.Tag, err)
	}
	return BuildResult{Tag: in.Tag, ImageID: info.ID}, nil
}

// tarFolder writes dir as a build context, leaving out .git.
func tarFolder(dir string, w io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
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
