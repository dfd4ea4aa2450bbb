package integration

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/storage"
)

// cacheOverride gives the demo's api a second named volume, its cache.
const cacheOverride = "version: \"3.8\"\nservices:\n  api:\n    volumes: [\"cache_data:/cache\"]\nvolumes:\n  cache_data:\n"

// TestFullRestoresEveryVolumeOfTheStack rolls back a stack of two volumes, the market
// database and the api's cache, each with its own backups; the cache's newest backup is
// damaged. Both volumes come back file for file from their good backups, the damaged one
// skipped before anything stopped; when the engine refuses the copy into the second
// volume, both are put back as they were.
func TestFullRestoresEveryVolumeOfTheStack(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	for _, tc := range []struct {
		name   string
		refuse bool
	}{{"both restored", false}, {"the second swap fails", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), override: cacheOverride,
				volumes: []string{`{name: "{project}_cache_data", pattern: "cache_backup_*.tar.gz"}`}, swapCopy: tc.refuse}
			if tc.refuse {
				o.config = fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))
			}
			e := newEnv(t, s, srv.GRPCAddr(), o)
			cache := e.project + "_cache_data"
			e.up()
			e.fillCache(map[string]string{"prices/btc.json": `{"last":67000}`, "prices/eth.json": `{"last":3500}`})
			dbBackup := e.goodBackup()
			cacheBackup := e.backupVolume(cache, "cache_backup_", time.Now())
			// The newest cache backup is cut in half: the rollback must fall back past it.
			raw, err := os.ReadFile(cacheBackup)
			require.NoError(t, err)
			e.writeNamedBackup("cache_backup_", time.Now().Add(time.Minute), raw[:len(raw)/2])

			e.fillCache(map[string]string{"prices/btc.json": `{"last":1}`, "poisoned.json": "{}"})
			require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
			e.awaitDamaged()
			damaged := map[string]map[string]string{demostack.Volume(e.project): e.volumeManifest(), cache: e.cacheManifest()}

			environ := []string{}
			if tc.refuse {
				proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{refuseWritesInto: cache})
				proxy.armed.Store(true)
				environ = append(environ, "DOCKER_HOST="+proxy.host())
			}
			e.startWorker(environ...)
			id := e.startFull()
			runs := func() activityRuns { return history(t, c, id) }
			if tc.refuse {
				err := e.failure(c, id)
				require.Contains(t, message(err), "put back: volume "+cache+" from its snapshot, volume "+demostack.Volume(e.project)+" from its snapshot, the stack started again")
				require.Equal(t, damaged[demostack.Volume(e.project)], e.volumeManifest(), "the database volume is as it was found")
				require.Equal(t, damaged[cache], e.cacheManifest(), "the cache volume is as it was found")
				e.requireRunning(2)
				s.report.add(chaosRow{scenario: "full of two volumes, the second swap refused", outcome: "failed; both volumes put back from their snapshots, stack up"})
				return
			}
			e.awaitCompleted(c, id)
			r := runs()
			r.safeOrder(t)
			require.Equal(t, 3, r.scheduled["PrepareVolume"], "the database's backup, the damaged cache backup, the good one")
			require.Equal(t, backupManifest(t, dbBackup), e.volumeManifest(), "the database volume is its backup, file for file")
			require.Equal(t, backupManifest(t, cacheBackup), e.cacheManifest(), "the cache volume is its backup, file for file")
			requireNoStaging(t, s, e.project)
			s.report.add(chaosRow{scenario: "full of two volumes, the second's newest backup damaged", outcome: "completed; both restored, the damaged backup skipped before the stop"})
		})
	}
}

// fillCache writes files into the api's cache volume.
func (e *env) fillCache(files map[string]string) {
	e.t.Helper()
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		require.NoError(e.t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Now()}))
		_, err := tw.Write([]byte(body))
		require.NoError(e.t, err)
	}
	require.NoError(e.t, tw.Close())
	_, err := e.s.engine.CopyToContainer(context.Background(), e.apiContainer(), client.CopyToContainerOptions{DestinationPath: "/cache", Content: strings.NewReader(buf.String())})
	require.NoError(e.t, err)
}

// cacheManifest hashes every file of the api's cache volume.
func (e *env) cacheManifest() map[string]string {
	e.t.Helper()
	res, err := e.s.engine.CopyFromContainer(context.Background(), e.apiContainer(), client.CopyFromContainerOptions{SourcePath: "/cache"})
	require.NoError(e.t, err)
	defer res.Content.Close()
	return tarManifest(e.t, res.Content, 1)
}

func (e *env) apiContainer() string {
	e.t.Helper()
	list, err := e.s.engine.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: make(client.Filters).
		Add("label", docker.ProjectLabel+"="+e.project).Add("label", docker.ServiceLabel+"=api")})
	require.NoError(e.t, err)
	require.NotEmpty(e.t, list.Items, "the api container")
	return list.Items[0].ID
}

// backupVolume writes a backup of any volume into the backups folder, as the runbook's tar
// would, with its sidecar, and returns its path.
func (e *env) backupVolume(vol, prefix string, at time.Time) string {
	e.t.Helper()
	store, err := storage.NewFolder(e.backups)
	require.NoError(e.t, err)
	name := prefix + at.UTC().Format("20060102_150405") + ".tar.gz"
	a := &volume.Activities{Engine: e.s.engine, Evidence: store}
	_, err = a.SnapshotVolume(context.Background(), volume.SnapshotInput{Volume: vol, Name: name})
	require.NoError(e.t, err)
	return store.Location(name)
}

// writeNamedBackup stores body as a backup named prefix+time, with a sidecar that matches.
func (e *env) writeNamedBackup(prefix string, at time.Time, body []byte) {
	e.t.Helper()
	path := filepath.Join(e.backups, prefix+at.UTC().Format("20060102_150405")+".tar.gz")
	require.NoError(e.t, os.WriteFile(path, body, 0o644))
	e.sidecar(path)
}

// backupManifest hashes the files of a backup in the runbook's layout.
func backupManifest(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	return archiveManifest(t, f)
}
