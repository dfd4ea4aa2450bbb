package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/storage"
)

const fingerprintSQL = "SELECT COUNT(*), SUM(price), SUM(volume) FROM market_data"

// TestPostgresDataCheckOnARestoredVolume backs up a real PostgreSQL data folder (Debian's
// PostgreSQL) with GNU tar in the runbook's layout, restores it into a Docker volume the
// way Rewind restores, serves the volume with PostgreSQL again, and runs the verification's
// data checks over the PostgreSQL wire protocol: they pass on the restored data and fail on
// a database that holds none.
func TestPostgresDataCheckOnARestoredVolume(t *testing.T) {
	s := needDocker(t)
	bin := postgresBin(t)
	a := &volume.Activities{Engine: s.engine, Evidence: mustFolder(t)}
	checks := &probe.Activities{HTTP: &http.Client{Timeout: 5 * time.Second}}
	ctx := context.Background()

	full := newPostgres(t, bin, "pgfull")
	full.sql(t, "CREATE TABLE market_data (ts timestamptz, price numeric, volume numeric)",
		"INSERT INTO market_data SELECT now() - i * interval '1 minute', 60000 + i * 0.25, i * 0.001 FROM generate_series(1, 500) AS i")
	recorded := full.fingerprint(t)
	full.stop(t)
	empty := newPostgres(t, bin, "pgempty")
	empty.sql(t, "CREATE TABLE market_data (ts timestamptz, price numeric, volume numeric)")
	empty.stop(t)

	for _, tc := range []struct {
		name   string
		source *postgres
		pass   bool
	}{{"restored data", full, true}, {"empty database", empty, false}} {
		t.Run(tc.name, func(t *testing.T) {
			vol := uniqueName("rwit_pg_")
			_, err := s.engine.VolumeCreate(ctx, client.VolumeCreateOptions{Name: vol})
			require.NoError(t, err)
			t.Cleanup(func() {
				_, _ = s.engine.VolumeRemove(context.Background(), vol, client.VolumeRemoveOptions{Force: true})
			})
			_, err = a.RestoreVolume(ctx, volume.RestoreInput{Volume: vol, Backup: tc.source.backup(t), Layout: "runbook"})
			require.NoError(t, err)
			info, err := s.engine.VolumeInspect(ctx, vol, client.VolumeInspectOptions{})
			require.NoError(t, err)

			served := servePostgres(t, bin, reachable(t, info.Volume.Mountpoint))
			count, err := checks.CheckData(ctx, probe.DataCheck{Name: "data integrity", URL: served, Query: "SELECT COUNT(*) FROM market_data"})
			require.NoError(t, err)
			same, err := checks.CheckData(ctx, probe.DataCheck{Name: "data is the backup's", URL: served, Query: fingerprintSQL, Want: recorded})
			require.NoError(t, err)
			require.Equal(t, tc.pass, count.Passed, count.Evidence)
			require.Equal(t, tc.pass, same.Passed, same.Evidence)
			if !tc.pass {
				require.Contains(t, same.Evidence, "the backup recorded "+recorded)
			}
		})
	}
}

// postgresBin finds Debian's PostgreSQL server programs.
func postgresBin(t *testing.T) string {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		if os.Getenv("REWIND_REQUIRE_DOCKER") == "1" {
			t.Fatal("no PostgreSQL server here: install Debian's postgresql package (.ci/run does)")
		}
		t.Skip("no PostgreSQL server here")
	}
	return filepath.Dir(matches[len(matches)-1])
}

// postgres is a data folder laid out as Docker keeps a volume: volumes/<name>/_data.
type postgres struct {
	bin, volumes, name, data, url string
	cmd                           *exec.Cmd
}

// newPostgres makes a cluster and serves it until stop.
func newPostgres(t *testing.T, bin, name string) *postgres {
	t.Helper()
	root := t.TempDir()
	openToPostgres(t, root)
	p := &postgres{bin: bin, volumes: filepath.Join(root, "volumes"), name: name}
	p.data = filepath.Join(p.volumes, name, "_data")
	require.NoError(t, os.MkdirAll(p.data, 0o755))
	runAsRoot(t, "chown", "-R", "postgres:postgres", root)
	runAsRoot(t, "runuser", "-u", "postgres", "--", filepath.Join(bin, "initdb"), "-D", p.data, "-A", "trust", "-U", "postgres", "--no-sync")
	p.url = servePostgres(t, bin, p.data)
	return p
}

func (p *postgres) sql(t *testing.T, statements ...string) {
	t.Helper()
	for _, st := range statements {
		require.NoError(t, probe.Exec(context.Background(), nil, p.url, st), st)
	}
}

func (p *postgres) fingerprint(t *testing.T) string {
	t.Helper()
	row, err := probe.QueryRow(context.Background(), nil, p.url, fingerprintSQL)
	require.NoError(t, err)
	return probe.Row(row)
}

// stop shuts the server down cleanly, so its folder is a consistent backup.
func (p *postgres) stop(t *testing.T) {
	t.Helper()
	runAsRoot(t, "runuser", "-u", "postgres", "--", filepath.Join(p.bin, "pg_ctl"), "-D", p.data, "-m", "fast", "-w", "stop")
}

// backup is the runbook's `tar -czf` of the volume's folder.
func (p *postgres) backup(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pg_backup_20261126_000000.tar.gz")
	runAsRoot(t, "tar", "-czf", out, "-C", p.volumes, p.name)
	return out
}

// reachable bind-mounts a volume's folder where the postgres user can reach it: the
// engine keeps volumes under /var/lib/docker, which only root may pass through.
func reachable(t *testing.T, mountpoint string) string {
	t.Helper()
	dir := t.TempDir()
	openToPostgres(t, dir)
	runAsRoot(t, "mount", "--bind", mountpoint, dir)
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// servePostgres starts PostgreSQL on data until the test ends and returns its URL.
func servePostgres(t *testing.T, bin, data string) string {
	t.Helper()
	port := freePort(t)
	sockets := t.TempDir()
	openToPostgres(t, sockets)
	runAsRoot(t, "chown", "postgres:postgres", sockets)
	runAsRoot(t, "runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-w", "-l", filepath.Join(sockets, "log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", port, sockets), "start")
	t.Cleanup(func() {
		_ = exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop").Run()
	})
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := probe.QueryRow(context.Background(), nil, url, "SELECT 1")
		assert.NoError(c, err)
	}, 30*time.Second, 100*time.Millisecond)
	return url
}

// openToPostgres lets the postgres user pass through a test folder and its parents.
func openToPostgres(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o755))
	}
}

func runAsRoot(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
}

func mustFolder(t *testing.T) *storage.Folder {
	t.Helper()
	f, err := storage.NewFolder(t.TempDir())
	require.NoError(t, err)
	return f
}
