package integration

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// TestFullFallsBackPastBackupsThatDoNotRestore gives the stack two newer backups that pass
// their checksums but cannot be restored (a hard link whose target climbs out of the
// volume; a stream damaged halfway) above a good one: the rollback restores the good one,
// and the stack stopped only once it had restored whole into staging.
func TestFullFallsBackPastBackupsThatDoNotRestore(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second})
	e.up()
	good := e.goodBackup()
	goodPrint := e.fingerprint()
	vol := demostack.Volume(e.project)
	e.writeBackupAt(time.Now().Add(time.Minute), tarGz(t,
		tar.Header{Name: vol + "/_data/db/x", Typeflag: tar.TypeReg, Size: 4},
		tar.Header{Name: vol + "/_data/evil", Typeflag: tar.TypeLink, Linkname: vol + "/_data/../../../../etc/passwd"}))
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	e.writeBackupAt(time.Now().Add(2*time.Minute), raw[:len(raw)/2])
	require.NoError(t, demostack.Seed(context.Background(), e.dbURL(), 3))
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	e.startWorker()

	id := e.startFull()
	e.awaitCompleted(c, id)
	require.Equal(t, goodPrint, e.fingerprint(), "the data served is the good backup's")
	runs := history(t, c, id)
	runs.safeOrder(t)
	require.Equal(t, 3, runs.scheduled["PrepareVolume"], "two refused, one restored")
	code, report, errOut := e.rewind("report", id)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, "## Skipped backups")
	require.Contains(t, report, `hard-links to "`+vol+`/_data/../../../../etc/passwd"`)
	require.Contains(t, report, "damaged")
	requireNoStaging(t, s, e.project)
	s.report.add(chaosRow{scenario: "full, the two newest backups do not restore", outcome: "completed from the older good backup; stack stopped only after it restored into staging"})
}

// TestFullPutsTheStackBackWhenTheEngineRefusesTheCopy has the engine refuse to write the
// staged data into the volume after the volume was removed: the volume comes back from this
// run's snapshot, file for file, the stack runs again, the rollback fails saying so, and
// people hear of it. Through Rewind's mover (the engine refuses its container) and through
// the archive API (the engine refuses the upload).
func TestFullPutsTheStackBackWhenTheEngineRefusesTheCopy(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	for _, archiveTransfer := range []bool{false, true} {
		name := map[bool]string{false: "mover", true: "archive API"}[archiveTransfer]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hook := startWebhook(t)
			direct := fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))
			e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), config: direct, webhook: hook.url, swapCopy: true, archiveTransfer: archiveTransfer})
			e.up()
			e.goodBackup()
			require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
			e.awaitDamaged()
			before := e.volumeManifest()
			proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{refuseWritesInto: demostack.Volume(e.project)})
			proxy.armed.Store(true)
			e.startWorker("DOCKER_HOST="+proxy.host(), "REWIND_TEST_WEBHOOK="+hook.url)

			id := e.startFull()
			err := e.failure(c, id)
			msg := message(err)
			require.Contains(t, msg, "writes into volume "+demostack.Volume(e.project)+" are not allowed")
			require.Contains(t, msg, "put back: volume "+demostack.Volume(e.project)+" from its snapshot, the stack started again; not healthy: ")
			require.Contains(t, msg, "(as found: not healthy: ", "the damaged stack was not healthy before either")
			require.Contains(t, msg, "; evidence: incidents/")
			require.Equal(t, before, e.volumeManifest(), "the volume holds what it held before the rollback")
			e.requireRunning(2)
			failed := hook.event(t, notify.KindFailed)
			require.Contains(t, failed.Detail, "put back: volume "+demostack.Volume(e.project)+" from its snapshot")
			runs := history(t, c, id)
			require.Positive(t, runs.completedAt["RemoveVolume"], "the failure came after the volume was removed")
			var restored volume.RestoreResult
			runs.result(t, "PrepareVolume", &restored)
			require.Equal(t, map[bool]string{false: volume.TransferNative, true: volume.TransferArchive}[archiveTransfer], restored.Transfer)
			requireNoStaging(t, s, e.project)
			s.report.add(chaosRow{scenario: "full, the engine refuses the copy (" + name + ") after the volume was removed", outcome: "failed; volume put back from the snapshot, stack up, people notified"})
		})
	}
}

// TestARestoreOfOneSlowEntryCompletesInOneAttempt restores a backup of one large file
// through an engine that takes it in more than three heartbeat timeouts: the step keeps
// reporting while the one entry streams, so Temporal never gives up on it.
func TestARestoreOfOneSlowEntryCompletesInOneAttempt(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	direct := fmt.Sprintf("compose: {command: [env, DOCKER_HOST=%s, %s]}\n", s.engine.DaemonHost(), strings.Join(s.compose, ", "))
	// Through the archive API: the proxy slows what goes through the engine.
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, config: direct, heartbeat: 2 * time.Second, swapCopy: true, archiveTransfer: true})
	e.up()
	big := make([]byte, 24<<20)
	_, err := rand.Read(big)
	require.NoError(t, err)
	id, err := demostack.DatabaseContainer(context.Background(), s.engine, e.project)
	require.NoError(t, err)
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "big.bin", Mode: 0o644, Size: int64(len(big)), ModTime: time.Now()}))
	_, err = tw.Write(big)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	_, err = s.engine.CopyToContainer(context.Background(), id, client.CopyToContainerOptions{DestinationPath: "/var/lib/questdb", Content: strings.NewReader(buf.String())})
	require.NoError(t, err)
	e.goodBackup()
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	// 3 MiB/s: the 24 MiB entry takes 8 s, four heartbeat timeouts.
	proxy := startEngineProxy(t, s.engine.DaemonHost(), &engineProxy{uploadBytesPerSecond: 3 << 20})
	proxy.armed.Store(true)
	e.startWorker("DOCKER_HOST=" + proxy.host())

	wf := e.startFull()
	e.awaitRestored(c, wf)
	runs := history(t, c, wf)
	require.Equal(t, 1, runs.attempt["PrepareVolume"], "the staging restore ran in one attempt")
	require.Equal(t, 1, runs.attempt["CopyVolume"], "the copy into the volume ran in one attempt")
	s.report.add(chaosRow{scenario: "full, one 24 MiB entry takes four heartbeat timeouts to restore", outcome: "completed, each transfer in one attempt"})
}

// TestEmergencyStopOfAStackThatLogsNowhere stops a stack whose api logs with the "none"
// driver, so its logs cannot be read: the stop goes on and every container goes.
func TestEmergencyStopOfAStackThatLogsNowhere(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, override: "version: \"3.8\"\nservices:\n  api:\n    logging: {driver: none}\n"})
	e.up()
	e.startWorker()

	code, out, errOut := e.rewind("start", "emergency", "--stack", e.stack, "--severity", "P1", "--reason", "host unstable", "--as", "alice", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Empty(t, e.containers(), "every container of the project is gone")
	require.Contains(t, out, "Capture ps, logs and stats (best effort): missing: ")
	_, err := c.DescribeWorkflowExecution(context.Background(), api.WorkflowID(e.stack), "")
	require.NoError(t, err)
	s.report.add(chaosRow{scenario: "emergency stop of a stack that logs with driver none", outcome: "completed; evidence recorded as missing"})
}

// requireRunning checks how many containers of the project run.
func (e *env) requireRunning(n int) {
	e.t.Helper()
	running, err := e.s.engine.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+e.project).Add("status", "running")})
	require.NoError(e.t, err)
	require.Len(e.t, running.Items, n, "containers running")
}

// awaitDamaged waits until the database serves the corrupted file.
func (e *env) awaitDamaged() {
	e.t.Helper()
	require.Eventually(e.t, func() bool { _, err := e.rowCount(); return err != nil }, 30*time.Second, 100*time.Millisecond)
}

// writeBackupAt stores body as a backup made at, with a sidecar that matches it.
func (e *env) writeBackupAt(at time.Time, body []byte) {
	e.t.Helper()
	name := demostack.BackupName(at)
	path := filepath.Join(e.backups, name)
	require.NoError(e.t, os.MkdirAll(e.backups, 0o755))
	require.NoError(e.t, os.WriteFile(path, body, 0o644))
	e.sidecar(path)
}

// webhook is a stand-in for a JSON webhook receiver: it keeps every event it is sent.
type webhook struct {
	url    string
	mu     sync.Mutex
	events []notify.Event
}

func startWebhook(t testing.TB) *webhook {
	t.Helper()
	h := &webhook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notify.Event
		if json.NewDecoder(r.Body).Decode(&ev) == nil {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// event returns the first event of kind, failing when none came.
func (h *webhook) event(t testing.TB, kind notify.Kind) notify.Event {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if ev.Kind == kind {
			return ev
		}
	}
	t.Fatalf("no %s event among %d", kind, len(h.events))
	return notify.Event{}
}

// TestFullRenamedBackWhenTheRestoredDataFailsVerification restores a newest backup that
// restores but holds an empty database: verification fails after the volumes were swapped
// by rename, and the damaged data is renamed back, file for file, the stack started again.
func TestFullRenamedBackWhenTheRestoredDataFailsVerification(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second})
	e.up()
	e.goodBackup()
	vol := demostack.Volume(e.project)
	// A backup that restores whole but holds a database without a row.
	e.writeBackupAt(time.Now().Add(time.Minute), tarGz(t,
		tar.Header{Name: vol + "/_data/", Typeflag: tar.TypeDir},
		tar.Header{Name: vol + "/_data/db/", Typeflag: tar.TypeDir},
		tar.Header{Name: vol + "/_data/db/market.sqlite", Typeflag: tar.TypeReg}))
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	e.awaitDamaged()
	before := e.volumeManifest()
	e.startWorker()

	id := e.startFull()
	err := e.failure(c, id)
	msg := message(err)
	require.Contains(t, msg, "data integrity (SELECT COUNT(*) FROM market_data → 0)")
	require.Contains(t, msg, "put back: what it started stopped, volume "+vol+" back in place, the stack started again; not healthy: ")
	require.Equal(t, before, e.volumeManifest(), "the damaged data is back, file for file")
	e.requireRunning(2)
	runs := history(t, c, id)
	require.Equal(t, 1, runs.completed["SwapVolume"], "the data was swapped by rename")
	require.Equal(t, 1, runs.completed["UnswapVolume"], "and renamed back")
	require.Zero(t, runs.scheduled["CopyVolume"])
	requireNoStaging(t, s, e.project)
	s.report.add(chaosRow{scenario: "full, the restored data fails verification after a rename", outcome: "failed; the damaged data renamed back, stack up"})
}
