package demostack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
)

// Volume is the market database's volume of a demo project, as compose names it.
func Volume(project string) string { return project + "_questdb_data" }

// BackupName is the runbook's backup file name for a moment.
func BackupName(t time.Time) string {
	return "questdb_backup_" + t.UTC().Format("20060102_150405") + ".tar.gz"
}

// Backup writes a backup of the project's market database into dir in the runbook's
// layout (<volume>/_data/...) with a `sha256sum` sidecar, and returns its path.
func Backup(ctx context.Context, engine *client.Client, project, dir string, at time.Time) (string, error) {
	store, err := evidence.NewLocal(dir)
	if err != nil {
		return "", err
	}
	a := &docker.Activities{Engine: engine, Evidence: store}
	name := BackupName(at)
	if _, err := a.SnapshotVolume(ctx, docker.SnapshotInput{Volume: Volume(project), Name: name}); err != nil {
		return "", fmt.Errorf("back up %s: %w", Volume(project), err)
	}
	return store.Location(name), nil
}

// DatabaseContainer finds the ID of the project's market database (service questdb); its
// volume is mounted at /var/lib/questdb.
func DatabaseContainer(ctx context.Context, engine *client.Client, project string) (string, error) {
	list, err := engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).
		Add("label", docker.ProjectLabel+"="+project).Add("label", docker.ServiceLabel+"=questdb")})
	if err != nil {
		return "", fmt.Errorf("find the questdb container of %s: %w", project, err)
	}
	if len(list.Items) == 0 {
		return "", fmt.Errorf("project %s has no questdb container; start it first", project)
	}
	return list.Items[0].ID, nil
}

// Corrupt overwrites the market database file with garbage and restarts the database, so
// the api reports Unhealthy: the runbook's "database corruption".
func Corrupt(ctx context.Context, engine *client.Client, project string) error {
	id, err := DatabaseContainer(ctx, engine, project)
	if err != nil {
		return err
	}
	garbage := bytes.Repeat([]byte("CORRUPTED BY DEMO "), 4096)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "market.sqlite", Mode: 0o644, Size: int64(len(garbage)), ModTime: time.Now()}); err != nil {
		return err
	}
	if _, err := tw.Write(garbage); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := engine.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/var/lib/questdb/db", Content: &buf}); err != nil {
		return fmt.Errorf("overwrite the market database: %w", err)
	}
	timeout := 5
	if _, err := engine.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("restart questdb: %w", err)
	}
	return nil
}

// Pad writes files of size random bytes (pad/0000.bin, ...) into the market database's
// volume, so a demo volume is big enough for transfers of several checkpoint batches.
func Pad(ctx context.Context, engine *client.Client, project string, files, size int) error {
	id, err := DatabaseContainer(ctx, engine, project)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := make([]byte, size)
	for i := range files {
		if _, err := rand.Read(body); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("pad/%04d.bin", i), Mode: 0o644, Size: int64(size), ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if _, err := engine.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/var/lib/questdb", Content: &buf}); err != nil {
		return fmt.Errorf("pad the market database's volume: %w", err)
	}
	return nil
}
