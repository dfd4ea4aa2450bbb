package demostack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/storage"
)

// Volume is the market database's volume of a demo project, as compose names it.
func Volume(project string) string { return project + "_questdb_data" }

// BackupName is the runbook's backup file name for a moment.
func BackupName(t time.Time) string {
	return "questdb_backup_" + t.UTC().Format("20060102_150405") + ".tar.gz"
}

// FingerprintQuery fingerprints the market data: what a restore must bring back.
const FingerprintQuery = "SELECT COUNT(*), SUM(price), SUM(volume) FROM market_data"

// Backup writes a backup of the project's market database into dir in the runbook's
// layout (<volume>/_data/...) with a `sha256sum` sidecar and, when the database answers,
// a .fingerprint of its data, and returns its path.
func Backup(ctx context.Context, engine *client.Client, project, dir string, at time.Time) (string, error) {
	store, err := storage.NewFolder(dir)
	if err != nil {
		return "", err
	}
	a := &volume.Activities{Engine: engine, Evidence: store}
	name := BackupName(at)
	fingerprint := ""
	if db, err := DatabaseURL(ctx, engine, project); err == nil {
		fingerprint, _ = Fingerprint(ctx, db)
	}
	if _, err := a.SnapshotVolume(ctx, volume.SnapshotInput{Volume: Volume(project), Name: name}); err != nil {
		return "", fmt.Errorf("back up %s: %w", Volume(project), err)
	}
	if fingerprint != "" {
		if err := store.Put(ctx, backups.FingerprintName(name), strings.NewReader(fingerprint+"\n")); err != nil {
			return "", fmt.Errorf("record the fingerprint of %s: %w", name, err)
		}
	}
	return store.Location(name), nil
}

// DatabaseURL is where the project's market database answers on this host.
func DatabaseURL(ctx context.Context, engine *client.Client, project string) (string, error) {
	id, err := DatabaseContainer(ctx, engine, project)
	if err != nil {
		return "", err
	}
	info, err := engine.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspect the questdb container of %s: %w", project, err)
	}
	if ns := info.Container.NetworkSettings; ns != nil {
		for port, bindings := range ns.Ports {
			if port.Port() == "9000" && len(bindings) > 0 {
				return "http://127.0.0.1:" + bindings[0].HostPort, nil
			}
		}
	}
	return "", fmt.Errorf("the questdb container of %s publishes no port 9000", project)
}

// Seed writes rows of made-up trades into the market database, as the trading platform
// would over a day: the demo's only source of data.
func Seed(ctx context.Context, dbURL string, rows int) error {
	start := time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(rows) * time.Minute)
	for done := 0; done < rows; {
		var values []string
		for ; done < rows && len(values) < 100; done++ {
			price := 60000 + float64(mrand.IntN(1_000_000))/100
			volume := float64(1+mrand.IntN(5000)) / 1000
			values = append(values, fmt.Sprintf("('%s', 'binance', 'btcusdt', %.2f, %.3f)", start.Add(time.Duration(done)*time.Minute).Format(time.RFC3339), price, volume))
		}
		if err := probe.Exec(ctx, &http.Client{Timeout: 10 * time.Second}, dbURL, "INSERT INTO market_data VALUES "+strings.Join(values, ", ")); err != nil {
			return fmt.Errorf("seed the market database: %w", err)
		}
	}
	return nil
}

// Fingerprint is the market data's fingerprint, as the verification reads it.
func Fingerprint(ctx context.Context, dbURL string) (string, error) {
	row, err := probe.QueryRow(ctx, &http.Client{Timeout: 10 * time.Second}, dbURL, FingerprintQuery)
	if err != nil {
		return "", err
	}
	return probe.Row(row), nil
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
	// The database runs in WAL mode: its newest pages live in market.sqlite-wal, which
	// would still serve them over a damaged main file. Both go, as a disk failure takes them.
	garbage := bytes.Repeat([]byte("CORRUPTED BY DEMO "), 4096)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range map[string][]byte{"market.sqlite": garbage, "market.sqlite-wal": nil} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), ModTime: time.Now()}); err != nil {
			return err
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
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
