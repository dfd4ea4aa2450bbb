package volume

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.temporal.io/sdk/activity"

	"github.com/algotrendy/rewind/engine"
)

// HelperImage is the image of the containers Rewind uses to reach a volume's files through
// the archive API. It is imported from a tar Rewind builds itself (no registry is needed)
// and its containers are created but never started.
const HelperImage = "rewind-helper:1"

func (a *Activities) ensureHelperImage(ctx context.Context) error {
	if _, err := a.Engine.ImageInspect(ctx, HelperImage); err == nil {
		return nil
	} else if !engine.Gone(err) {
		return fmt.Errorf("inspect helper image %s: %w", HelperImage, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return fmt.Errorf("pack helper image: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("pack helper image: %w", err)
	}
	res, err := a.Engine.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, HelperImage,
		client.ImageImportOptions{Changes: []string{`CMD ["/rewind-helper-is-never-started"]`}, Message: "Rewind volume helper"})
	if err != nil {
		return fmt.Errorf("import helper image %s: %w", HelperImage, err)
	}
	defer res.Close()
	if _, err := bytes.NewBuffer(nil).ReadFrom(res); err != nil {
		return fmt.Errorf("import helper image %s: %w", HelperImage, err)
	}
	return nil
}

// helperMaxAge is how old a helper may get: older than any step, its attempt is gone.
const helperMaxAge = 7 * time.Hour

// helper creates a stopped container with the volume at /data and returns its ID and a
// function that removes it. Helpers are named per attempt, so a second attempt started
// beside a first that is still alive never takes its helper away; ones left by dead
// attempts are removed once older than any step can run.
func (a *Activities) helper(ctx context.Context, volume string, readOnly bool) (string, func(), error) {
	if err := a.ensureHelperImage(ctx); err != nil {
		return "", nil, err
	}
	a.removeOldHelpers(ctx)
	name := "rewind-helper-" + attemptKey(ctx) + "-" + volume
	if err := engine.Retry(ctx, func() error {
		_, err := a.Engine.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true})
		return err
	}); err != nil && !engine.Gone(err) {
		return "", nil, fmt.Errorf("remove helper %s left by this attempt: %w", name, err)
	}
	bind := volume + ":/data"
	if readOnly {
		bind += ":ro"
	}
	id, err := engine.CreateOnce(ctx, a.Engine, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:  HelperImage,
			Labels: map[string]string{HelperLabel: "true", VolumeLabel: volume},
		},
		HostConfig: &container.HostConfig{Binds: []string{bind}, NetworkMode: "none"},
	})
	if err != nil {
		return "", nil, fmt.Errorf("create helper container for volume %s: %w", volume, err)
	}
	cleanup := func() {
		// The activity's context may be done; removal must still happen.
		rm, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = a.Engine.ContainerRemove(rm, id, client.ContainerRemoveOptions{Force: true})
	}
	return id, cleanup, nil
}

// volumeHelper checks the volume exists (a missing one fails with missing, formatted with
// its name, and is not retried) and returns a helper container attached to it.
func (a *Activities) volumeHelper(ctx context.Context, volume string, readOnly bool, missing string) (string, func(), error) {
	if err := a.volumeExists(ctx, volume, missing); err != nil {
		return "", nil, err
	}
	return a.helper(ctx, volume, readOnly)
}

// removeOldHelpers removes helpers older than any step; a failure only leaves them longer.
func (a *Activities) removeOldHelpers(ctx context.Context) {
	list, err := a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", HelperLabel+"=true")})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		if time.Since(time.Unix(c.Created, 0)) > helperMaxAge {
			_, _ = a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
		}
	}
}

// attemptKey names one attempt of the running activity (a short hash), or this process's
// call outside any activity.
func attemptKey(ctx context.Context) string {
	h := sha256.New()
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, info.Attempt)
	} else {
		fmt.Fprintf(h, "%d\x00%d", os.Getpid(), time.Now().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

// removeContainers removes every container the filters match, running or not; what names
// them in errors.
func (a *Activities) removeContainers(ctx context.Context, filters client.Filters, what string) error {
	var list client.ContainerListResult
	err := engine.Retry(ctx, func() error {
		var err error
		list, err = a.Engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
		return err
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", what, err)
	}
	for _, c := range list.Items {
		if err := engine.Retry(ctx, func() error {
			_, err := a.Engine.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
			return err
		}); err != nil && !engine.Gone(err) {
			return fmt.Errorf("remove container %s of the %s: %w", c.ID[:12], what, err)
		}
	}
	return nil
}
