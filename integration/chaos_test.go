package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/storage/s3test"
	"github.com/algotrendy/rewind/workflows/api"
)

// chaosRow is one line of the table `make chaos` prints.
type chaosRow struct {
	scenario string
	outcome  string
	// runTwice counts steps recorded as completed that ran again (must be 0).
	runTwice int
	// resent is the bytes transfers sent again after an interruption.
	resent int64
	// lost counts files of the damaged volume, the backup or the restored volume that
	// are missing or differ (must be 0).
	lost int
}

// chaosReport collects the rows of every chaos scenario of a test run.
type chaosReport struct {
	mu   sync.Mutex
	rows []chaosRow
}

func (r *chaosReport) add(row chaosRow) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, row)
}

// write prints the table as Markdown.
func (r *chaosReport) write(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sort.SliceStable(r.rows, func(i, j int) bool { return r.rows[i].scenario < r.rows[j].scenario })
	fmt.Fprintln(w, "| scenario | outcome | completed steps run twice | bytes resent | data lost |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d |\n", row.scenario, row.outcome, row.runTwice, row.resent, row.lost)
	}
}

var (
	crashMoved   = regexp.MustCompile(`moved snapshot=(\d+) upload=(\d+) download=(\d+) restore=(\d+) copy=(\d+): SIGKILL`)
	transferLine = regexp.MustCompile(`(?m)^rewind_transfer[a-z_]*\{([^}]*)\} (\S+)$`)
	kindLabel    = regexp.MustCompile(`kind="(\w+)"`)
)

// movedBeforeCrash is what a crashed worker's transfers moved, from its last words.
func (w *worker) movedBeforeCrash(t testing.TB) map[string]int64 {
	t.Helper()
	m := crashMoved.FindStringSubmatch(w.logs.String())
	require.NotNil(t, m, "crash report in the worker's log:\n%s", w.logs)
	out := map[string]int64{}
	for i, kind := range []string{meter.Snapshot, meter.Upload, meter.Download, meter.Restore, meter.Copy} {
		out[kind], _ = strconv.ParseInt(m[i+1], 10, 64)
	}
	return out
}

// moved is what a running worker's transfers moved so far, from its /metrics.
func (w *worker) moved(t testing.TB) map[string]int64 {
	t.Helper()
	resp, err := http.Get(w.metrics)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]int64{}
	for _, m := range transferLine.FindAllStringSubmatch(string(body), -1) {
		kind := kindLabel.FindStringSubmatch(m[1])
		if kind == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err)
		out[kind[1]] += int64(v)
	}
	return out
}

// volumeManifest hashes every file of the project's market database volume, read through
// the archive API of its container.
func (e *env) volumeManifest() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	id, err := demostack.DatabaseContainer(ctx, e.s.engine, e.project)
	require.NoError(e.t, err)
	res, err := e.s.engine.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/var/lib/questdb"})
	require.NoError(e.t, err)
	defer res.Content.Close()
	return tarManifest(e.t, res.Content, 1)
}

// differences counts the files of want that got lost or changed in got.
func differences(want, got map[string]string) int {
	n := 0
	for name, sum := range want {
		if got[name] != sum {
			n++
		}
	}
	return n
}

// cleanRun is how often a clean run schedules each step that runs more than once: the
// notes (checklist, decisions, report), the HTTP checks (health, database, endpoint), the
// data checks (row count, fingerprint) and the backup listings (the checklist's, the
// candidates').
var cleanRun = map[string]int{"Note": 3, "CheckHTTP": 3, "CheckData": 2, "ListBackups": 2}

// stepsRunTwice counts steps scheduled or completed more often than in a clean run.
// Notifications are not steps: they change nothing and a run sends one per event.
func (r activityRuns) stepsRunTwice() int {
	n := 0
	for name, got := range r.scheduled {
		if name == "Notify" {
			continue
		}
		want := max(1, cleanRun[name])
		n += max(0, got-want) + max(0, r.completed[name]-want)
	}
	return n
}

// fullCrashPoints cover every step of the full rollback and the middle of each transfer.
var fullCrashPoints = []string{
	"before:CaptureState", "after:ListBackups", "after:Note", "after:InspectVolume",
	"after:RemoveStaleStaging", "during:download@5MiB", "after:DownloadBackup",
	"during:restore@5MiB", "after:PrepareVolume",
	"before:StopProject", "after:StopProject",
	"after:PlanSwap", "before:SwapVolume", "inside:SwapVolume", "after:SwapVolume",
	"before:StartProject", "after:StartProject", "after:WaitHealthy", "after:CheckData",
	"before:SnapshotVolume", "during:snapshot@3MiB", "during:upload@7MiB", "after:SnapshotVolume", "before:RemoveVolume", "after:RemoveVolume",
	"after:RemoveStaging",
}

// copyCrashPoints cover the steps of the full rollback that copies (where the engine cannot
// rename volume folders): the snapshot comes before the volume is emptied, and compose
// makes the containers the emptying removed.
var copyCrashPoints = []string{
	"during:snapshot@3MiB", "after:SnapshotVolume", "before:RemoveVolume", "after:RemoveVolume", "after:CreateVolume",
	"during:copy@5MiB", "after:CopyVolume", "after:StartProject", "after:ComposeUp",
}

// quickCrashPoints cover every step of the quick rollback.
var quickCrashPoints = []string{
	"before:CaptureState", "after:Resolve", "after:StopProject", "after:StashChanges", "after:RemoveContainers",
	"after:Checkout", "after:ComposeUp", "after:WaitHealthy", "after:CheckHTTP", "after:RemoveImage",
}

// gitCrashPoints cover the steps the git rollback adds to the quick one.
var gitCrashPoints = []string{"before:BuildImage", "after:BuildImage"}

// TestCrashMatrix kills the worker (SIGKILL, REWIND_CRASH_AT) at every step of the full
// and quick rollbacks and in the middle of every transfer, starts a fresh worker, and checks
// the rollback completes, no completed step ran again, an interrupted transfer sent again
// at most one checkpoint batch, and nothing was lost.
func TestCrashMatrix(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	s3 := startS3(t)
	_, err := s.engine.ImageTag(context.Background(), client.ImageTagOptions{Source: demostack.APIImage + ":v2.6-prod", Target: demostack.APIImage + ":v2.5"})
	require.NoError(t, err)
	for _, point := range fullCrashPoints {
		t.Run("full/"+point, func(t *testing.T) {
			t.Parallel()
			crashFull(t, s, srv.GRPCAddr(), c, s3, point, false)
		})
	}
	for _, point := range copyCrashPoints {
		t.Run("full-copy/"+point, func(t *testing.T) {
			t.Parallel()
			crashFull(t, s, srv.GRPCAddr(), c, s3, point, true)
		})
	}
	for _, point := range quickCrashPoints {
		t.Run("quick/"+point, func(t *testing.T) {
			t.Parallel()
			crashQuick(t, s, srv.GRPCAddr(), c, point)
		})
	}
	for _, point := range gitCrashPoints {
		t.Run("git/"+point, func(t *testing.T) {
			t.Parallel()
			crashGit(t, s, srv.GRPCAddr(), c, point)
		})
	}
}

// The demo volume in the matrix: the database plus twelve 1 MiB files, with 1 MiB restore
// batches and snapshot segments and 5 MiB upload parts, so every transfer has several.
const (
	padFiles      = 12
	transferBatch = 1 << 20
	uploadPart    = 5 << 20
)

func crashFull(t testing.TB, s *suite, temporalAddr string, c sdkclient.Client, s3 *s3test.Server, point string, copyIn bool) {
	e := newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), s3: s3, transferBatch: transferBatch, swapCopy: copyIn})
	e.up()
	require.NoError(t, demostack.Pad(context.Background(), s.engine, e.project, padFiles, 1<<20))
	local, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	backupPrint := e.fingerprint()
	e.uploadBackup(local)
	name := local[strings.LastIndex(local, "/")+1:]
	backupSum := e.objectSHA256("backups", name)
	f, err := os.Open(local)
	require.NoError(t, err)
	backupFiles := archiveManifest(t, f)
	f.Close()
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.rowCount()
		assert.Error(c, err, "the database is corrupted before the rollback")
	}, 30*time.Second, 100*time.Millisecond)
	damaged := e.volumeManifest()

	doomed, fresh, runs, runTwice := e.crashThenResume(c, point, "full")
	before := doomed.movedBeforeCrash(t)
	rows, err := e.rowCount()
	require.NoError(t, err)
	require.Equal(t, float64(500), rows, "the backup's rows are back")
	require.Equal(t, backupPrint, e.fingerprint(), "the data served is the backup's")
	runs.safeOrder(t)
	requireNoStaging(t, s, e.project)

	// What each transfer had to move, and what the two workers moved.
	var proof volume.SnapshotProof
	var fetched backup.Downloaded
	var restored, copied volume.RestoreResult
	runs.result(t, "SnapshotVolume", &proof)
	runs.result(t, "DownloadBackup", &fetched)
	runs.result(t, "PrepareVolume", &restored)
	if copyIn {
		runs.result(t, "CopyVolume", &copied)
	}
	// Every upload stores one evidence object: the snapshot, its sidecar, the captures,
	// notes and the report. The worker's own records of admitted runs and used nonces are
	// written by the gate, not uploaded by a step.
	stored, err := e.store("evidence").List(context.Background(), "")
	require.NoError(t, err)
	var uploads int64
	for _, o := range stored {
		if !strings.HasPrefix(o.Name, "admissions/") && !strings.HasPrefix(o.Name, "nonces/") {
			uploads += o.Size
		}
	}
	needed := map[string]int64{meter.Snapshot: proof.Bytes, meter.Upload: uploads, meter.Download: fetched.Size, meter.Restore: restored.Bytes, meter.Copy: copied.Bytes}
	after := fresh.moved(t)
	var resent int64
	for kind, n := range needed {
		again := before[kind] + after[kind] - n
		bound := int64(transferBatch + transferBatch/8) // a batch and its tar and gzip framing
		if kind == meter.Upload {
			bound = uploadPart
		}
		require.LessOrEqual(t, again, bound, "%s sent %d bytes again (first worker %d, second %d, needed %d)", kind, again, before[kind], after[kind], n)
		require.GreaterOrEqual(t, again, int64(0), "%s: the workers moved less than the transfer needed", kind)
		resent += again
	}

	// Nothing lost: the snapshot holds the damaged volume, the volume holds the backup, the
	// backup is as it was.
	snap, err := e.store("evidence").Open(context.Background(), proof.Location, 0)
	require.NoError(t, err)
	kept := archiveManifest(t, snap)
	snap.Close()
	lost := differences(damaged, kept) + differences(backupFiles, e.volumeManifest())
	if e.objectSHA256("backups", name) != backupSum {
		lost++
	}
	require.Zero(t, lost, "files lost or changed")
	require.Equal(t, proof.SHA256, e.objectSHA256("evidence", proof.Location), "the stored snapshot has the hash its proof names")
	scenario := "full, worker killed " + point
	if copyIn {
		scenario = "full (copying), worker killed " + point
	}
	s.report.add(chaosRow{scenario: scenario, outcome: "completed", runTwice: runTwice, resent: resent, lost: lost})
}

// crashThenResume starts a P1 rollback (option and its flags) with a worker armed to die
// at point, starts a fresh worker once it has, waits for the rollback to complete, and
// checks no step of it or of its verification ran again.
func (e *env) crashThenResume(c sdkclient.Client, point string, option ...string) (doomed, fresh *worker, runs activityRuns, runTwice int) {
	e.t.Helper()
	doomed = e.startWorker("REWIND_CRASH_AT=" + point)
	args := append([]string{"start"}, option...)
	code, out, errOut := e.rewind(append(args, "--stack", e.stack, "--severity", "P1", "--reason", "crash test", "--as", "alice")...)
	require.Equal(e.t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	doomed.crashed(e.t)
	fresh = e.startWorker()
	id := api.WorkflowID(e.stack)
	e.awaitCompleted(c, id)
	runs = history(e.t, c, id)
	verify := history(e.t, c, id+"-verify")
	require.Zero(e.t, runs.stepsRunTwice(), "steps of the rollback ran again: %v", runs.scheduled)
	require.Zero(e.t, verify.stepsRunTwice(), "checks ran again: %v", verify.scheduled)
	return doomed, fresh, runs, runs.stepsRunTwice() + verify.stepsRunTwice()
}

func crashQuick(t testing.TB, s *suite, temporalAddr string, c sdkclient.Client, point string) {
	e := newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), repo: true})
	tagImage(t, s.engine, demostack.APIImage+":"+e.project)
	e.up()
	data := e.volumeManifest()
	v25 := e.git("rev-parse", "v2.5")

	_, _, _, runTwice := e.crashThenResume(c, point, "quick")
	require.Equal(t, v25, e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage())
	lost := differences(data, e.volumeManifest())
	require.Zero(t, lost, "a quick rollback leaves the data volume as it was")
	s.report.add(chaosRow{scenario: "quick, worker killed " + point, outcome: "completed", runTwice: runTwice, lost: lost})
}

func crashGit(t testing.TB, s *suite, temporalAddr string, c sdkclient.Client, point string) {
	e := newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), repo: true})
	tagImage(t, s.engine, demostack.APIImage+":"+e.project)
	e.up()
	e.hotFix()
	data := e.volumeManifest()

	_, _, _, runTwice := e.crashThenResume(c, point, "git", "--to", "v2.5")
	require.Equal(t, e.git("rev-parse", "v2.5"), e.git("rev-parse", "HEAD"))
	require.Equal(t, demostack.APIImage+":v2.5", e.apiImage())
	stashes := strings.Split(strings.TrimSpace(e.git("stash", "list")), "\n")
	require.Len(t, stashes, 1, "the hot-fix is stashed once, not twice: %v", stashes)
	lost := differences(data, e.volumeManifest())
	if !strings.Contains(e.git("stash", "show", "--name-only", "stash@{0}"), "conf/app.conf") {
		lost++
	}
	require.Zero(t, lost, "the data volume and the operator's hot-fix are kept")
	s.report.add(chaosRow{scenario: "git, worker killed " + point, outcome: "completed", runTwice: runTwice, lost: lost})
}

// TestCancelMidCopyPutsTheVolumeBack cancels a full rollback while the staged data is
// copied into the volume (held at a pause point), with the evidence in S3, and checks the
// stack is put back as it was: the volume holds exactly the damaged files again, from the
// snapshot's copy on the host.
func TestCancelMidCopyPutsTheVolumeBack(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, s3: startS3(t), transferBatch: transferBatch, swapCopy: true})
	e.up()
	require.NoError(t, demostack.Pad(context.Background(), s.engine, e.project, padFiles, 1<<20))
	local, err := demostack.Backup(context.Background(), s.engine, e.project, e.backups, time.Now())
	require.NoError(t, err)
	e.uploadBackup(local)
	require.NoError(t, demostack.Corrupt(context.Background(), s.engine, e.project))
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := e.rowCount()
		assert.Error(c, err)
	}, 30*time.Second, 100*time.Millisecond)
	damaged := e.volumeManifest()
	w := e.startWorker("REWIND_CRASH_AT=pause:copy@3MiB")

	id := e.startFull()
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.Contains(c, w.logs.String(), "paused after")
	}, 2*time.Minute, 100*time.Millisecond, "the copy reaches its pause point")
	code, _, errOut := e.rewind("cancel", id)
	require.Equal(t, 0, code, errOut)
	require.Eventually(t, func() bool { return cancelRequested(c, id) }, time.Minute, 100*time.Millisecond,
		"Temporal recorded the cancellation before the copy goes on")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGUSR1))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = c.GetWorkflow(ctx, id, "").Get(ctx, nil)
	require.True(t, temporal.IsCanceledError(err), "cancelled: %v", err)
	runs := history(t, c, id)
	require.Equal(t, 1, runs.scheduled["RestoreVolume"], "the put-back from the snapshot")
	running, err := s.engine.ContainerList(context.Background(), client.ContainerListOptions{
		Filters: make(client.Filters).Add("label", docker.ProjectLabel+"="+e.project).Add("status", "running")})
	require.NoError(t, err)
	require.Len(t, running.Items, 2, "the stack runs again, as it was: on the damaged database")
	lost := differences(damaged, e.volumeManifest())
	require.Zero(t, lost, "the volume holds the damaged files again")
	require.Equal(t, len(damaged), len(e.volumeManifest()), "and nothing the cancelled copy wrote")
	requireNoStaging(t, s, e.project)
	s.report.add(chaosRow{scenario: "full cancelled mid-copy (evidence in S3)", outcome: "cancelled; volume put back from the snapshot, stack up", lost: lost})
}

// requireNoStaging checks a run left no staging volume of the project behind.
func requireNoStaging(t testing.TB, s *suite, project string) {
	t.Helper()
	vols, err := s.engine.VolumeList(context.Background(), client.VolumeListOptions{Filters: make(client.Filters).Add("label", volume.ProjectLabelRewind+"="+project)})
	require.NoError(t, err)
	require.Empty(t, vols.Items, "no staging volume is left behind")
}

// cancelRequested reports whether a workflow's history holds its cancellation request.
func cancelRequested(c sdkclient.Client, id string) bool {
	it := c.GetWorkflowHistory(context.Background(), id, "", false, 0)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return false
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED {
			return true
		}
	}
	return false
}
