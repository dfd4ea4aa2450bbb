package integration

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/activities/volume/mover"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/integration/benchtable"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/workflows/api"
)

// BenchmarkFullRollback restores the demo stack at each size of REWIND_BENCH_SIZES (MiB,
// default 256,1024,4096; data half-compressible, as database columns are) three ways in one
// run, each from the same corrupted state: the runbook's Option 2 commands as a script
// (its `sleep 30` included, since that is what people run), Rewind's P1 full rollback
// (start to completion, at 1 GiB) with Rewind's own overhead read from its history, and
// Rewind's P2 full rollback (approval to healthy, from the history). It adds the worker's
// and the mover's peak memory at each size. Beside the P1 it measures what a user sees (the
// API's /health polled every 100 ms from the corruption until healthy again, for the P1 and
// the script), the stack's own stop and start inside the P1 beside `compose restart` of the
// same stack, and it logs the P1's spans. The P1 runs at 1 GiB, or at the one size given.
// Run with make bench.
//
// REWIND_BENCH_BIN names a folder with another build's worker and rewind (an earlier
// release, to compare with).
func BenchmarkFullRollback(b *testing.B) {
	s := needDocker(b)
	srv, c := startTemporal(b)
	sizes := []int64{256 << 20, 1 << 30, 4 << 30}
	if v := os.Getenv("REWIND_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			var mib int64
			_, err := fmt.Sscan(f, &mib)
			require.NoError(b, err, "REWIND_BENCH_SIZES=%s: sizes in MiB, comma-separated", v)
			sizes = append(sizes, mib<<20)
		}
	}
	legacy := os.Getenv("REWIND_BENCH_BIN") != ""
	e := newEnv(b, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, legacyConfig: legacy})
	if legacy {
		e.bin = os.Getenv("REWIND_BENCH_BIN")
	}
	e.up()
	w := e.startWorker()
	id := api.WorkflowID(e.stack)

	for range b.N {
		for _, size := range sizes {
			mib := fmt.Sprintf("%d MiB", size>>20)
			e.padVolume(size)
			backup := e.goodBackup()
			want := e.fingerprint()

			p1Here := size == 1<<30 || len(sizes) == 1
			var scriptDown *healthWatch
			if p1Here {
				scriptDown = e.watchHealth()
			}
			e.damage()
			script := e.runbookOption2(backup)
			require.Equal(b, want, e.fingerprint(), "the script restored the backup")

			if p1Here {
				scriptUnhealthy := scriptDown.untilHealthy()
				p1Down := e.watchHealth()
				e.damage()
				start := time.Now()
				code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench P1", "--as", "alice", "--wait")
				p1 := time.Since(start)
				require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				p1Unhealthy := p1Down.untilHealthy()
				require.Equal(b, want, e.fingerprint())
				wall, overhead := rewindOverhead(b, c, id)
				spans := historySpans(b, c, id)
				// Straight to the bench log: a benchmark's b.Logf keeps only its first ten lines.
				fmt.Printf("P1 full rollback, %s, spans from its history (offset from the run's start):\n%s", mib, spans.table())
				own := spans.stackOwnStopStart(b)
				restart := e.composeRestart()
				benchtable.Raw(b, "P1 unhealthy seen from outside "+mib, p1Unhealthy.Seconds(), scriptUnhealthy.Seconds())
				benchtable.Add(b, benchtable.Row{Measure: "P1 full rollback, " + mib + ": unhealthy time seen from outside (/health every 0.1 s, corruption to healthy) vs Option 2 script", Rewind: benchtable.Seconds(p1Unhealthy), Runbook: benchtable.Seconds(scriptUnhealthy),
					Ratio: p1Unhealthy.Seconds() / scriptUnhealthy.Seconds(), Goal: "≤ 0.1×", Met: p1Unhealthy.Seconds()/scriptUnhealthy.Seconds() <= 0.1})
				benchtable.Raw(b, "stack stop+start in P1 "+mib, own.Seconds(), restart.Seconds())
				benchtable.Add(b, benchtable.Row{Measure: "the stack's own stop and start to healthy inside that P1 (StopProject, then start to WaitHealthy's end; swap excluded) vs `compose restart -t <grace>` to healthy", Rewind: benchtable.Seconds(own), Runbook: benchtable.Seconds(restart),
					Ratio: own.Seconds() / restart.Seconds(), Goal: "≤ 1.2×", Met: own.Seconds()/restart.Seconds() <= 1.2})
				benchtable.Raw(b, "P1 full "+mib, p1.Seconds(), script.Seconds(), wall.Seconds(), overhead.Seconds())
				benchtable.Add(b, benchtable.Row{Measure: "P1 full rollback, " + mib + ", start to done vs Option 2 script", Rewind: benchtable.Seconds(p1), Runbook: benchtable.Seconds(script),
					Ratio: p1.Seconds() / script.Seconds(), Goal: "≤ 0.15×", Met: p1.Seconds()/script.Seconds() <= 0.15})
				benchtable.Add(b, benchtable.Row{Measure: "Rewind's own overhead in that P1 (wall time minus its steps', from the history)", Rewind: fmt.Sprintf("%.3f s of %.1f s", overhead.Seconds(), wall.Seconds()),
					Goal: "≤ 0.2 s", Met: overhead <= 200*time.Millisecond})
			}

			e.damage()
			code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "bench P2", "--as", "alice")
			require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			e.awaitApprovalGate(id)
			if !legacy {
				// Approvers take minutes; the staging restore runs meanwhile. Approve once it
				// is done, as the approver of an incident would be.
				e.awaitStepDone(c, id, "Restore the newest good backup into a staging volume")
			}
			code, out, errOut = e.rewind("approve", id, "--as", "bob")
			require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			e.awaitCompleted(c, id)
			p2 := approvedToHealthy(b, c, id)
			require.Equal(b, want, e.fingerprint())
			benchtable.Raw(b, "P2 approval to healthy "+mib, p2.Seconds(), script.Seconds())
			benchtable.Add(b, benchtable.Row{Measure: "P2 full rollback, " + mib + ", approval to healthy vs Option 2 script", Rewind: benchtable.Seconds(p2), Runbook: benchtable.Seconds(script),
				Ratio: p2.Seconds() / script.Seconds(), Goal: "≤ 10 s", Met: p2 <= 10*time.Second})

			var restored volume.RestoreResult
			history(b, c, id).result(b, "PrepareVolume", &restored)
			worker := peakRSS(b, w.cmd.Process.Pid)
			benchtable.Raw(b, "peak RSS "+mib, worker, restored.MoverPeakRSS, restored.Transfer)
			benchtable.Add(b, benchtable.Row{Measure: "peak RSS of the worker after the rollbacks of " + mib, Rewind: benchtable.MiB(worker), Goal: "≤ 64 MiB", Met: worker <= 64<<20})
			benchtable.Add(b, benchtable.Row{Measure: "peak RSS of the mover, staging restore of " + mib + " (" + restored.Transfer + ")", Rewind: benchtable.MiB(restored.MoverPeakRSS), Goal: "≤ 64 MiB", Met: restored.MoverPeakRSS <= 64<<20})
		}
	}
}

// BenchmarkResumeMidRestore kills the worker (SIGKILL) half-way through the staging restore
// of a 1 GiB P1 full rollback, starts a fresh worker and measures how long after its start
// bytes move again and how many bytes the two workers wrote twice. Run with make bench.
func BenchmarkResumeMidRestore(b *testing.B) {
	s := needDocker(b)
	srv, c := startTemporal(b)
	const size = 1 << 30
	heartbeat := 20 * time.Second // the worker's default heartbeat_timeout
	e := newEnv(b, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, heartbeat: heartbeat})
	e.up()
	e.padVolume(size)
	e.goodBackup()
	want := e.fingerprint()
	id := api.WorkflowID(e.stack)
	for range b.N {
		e.damage()
		doomed := e.startWorker(fmt.Sprintf("REWIND_CRASH_AT=during:restore@%d", size/2))
		code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench resume", "--as", "alice")
		require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		doomed.crashed(b)
		began := time.Now()
		fresh := e.startWorker()
		firstMover := e.moverWrote()
		// Bytes move again once the fresh worker's mover runs: it reads the FIFO the worker
		// decompresses into (acks, and so the worker's meter, come only per batch).
		var resumed time.Duration
		require.Eventually(b, func() bool {
			list, err := e.s.engine.ContainerList(context.Background(), client.ContainerListOptions{Filters: make(client.Filters).Add("label", volume.HelperLabel+"=true")})
			require.NoError(b, err)
			for _, c := range list.Items {
				if strings.Contains(c.Labels[volume.VolumeLabel], e.project) && strings.HasPrefix(c.Names[0], "/rewind-mover-") {
					resumed = time.Since(began)
					return true
				}
			}
			return false
		}, 5*time.Minute, 20*time.Millisecond, "the restore goes on on the fresh worker")
		e.awaitCompleted(c, id)
		require.Equal(b, want, e.fingerprint())
		var restored volume.RestoreResult
		history(b, c, id).result(b, "PrepareVolume", &restored)
		// The first mover went on until the dead worker's FIFO ran dry; the second wrote what
		// the checkpoint did not count.
		again := firstMover + fresh.moved(b)[meter.Restore] - restored.Bytes
		fresh.kill(b)
		benchtable.Raw(b, "resume 1 GiB", resumed.Seconds(), again, heartbeat.Seconds())
		benchtable.Add(b, benchtable.Row{Measure: fmt.Sprintf("worker SIGKILLed mid-restore: fresh worker's start to bytes moving again (heartbeat timeout %s)", heartbeat),
			Rewind: benchtable.Seconds(resumed), Goal: "≤ 5 s + heartbeat timeout", Met: resumed <= 5*time.Second+heartbeat})
		benchtable.Add(b, benchtable.Row{Measure: "bytes written twice by that resume (batch 256 MiB; the first mover's own count)", Rewind: benchtable.MiB(again), Goal: "≤ one batch", Met: again <= 256<<20})
	}
}

// moverWrote is what the stack's exited movers wrote, from the acks in their logs (the last
// one, of a mover whose worker died, says what it wrote since its last ack).
func (e *env) moverWrote() int64 {
	e.t.Helper()
	ctx := context.Background()
	list, err := e.s.engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", volume.HelperLabel+"=true")})
	require.NoError(e.t, err)
	var wrote int64
	for _, c := range list.Items {
		if !strings.Contains(c.Labels[volume.VolumeLabel], e.project) || !strings.HasPrefix(c.Names[0], "/rewind-mover-") {
			continue
		}
		wait := e.s.engine.ContainerWait(ctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
		select {
		case <-wait.Result:
		case err := <-wait.Error:
			require.NoError(e.t, err)
		}
		logs, err := e.s.engine.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true})
		require.NoError(e.t, err)
		var out strings.Builder
		_, err = stdcopy.StdCopy(&out, io.Discard, logs)
		logs.Close()
		require.NoError(e.t, err)
		for line := range strings.Lines(out.String()) {
			var ack mover.Ack
			if json.Unmarshal([]byte(line), &ack) == nil {
				wrote += ack.Bytes
			}
		}
	}
	return wrote
}

// span is one step of a run, from its history: an activity or a child workflow.
type span struct {
	name                string
	scheduled, from, to time.Time
}

// runSpans are a run's steps in the order they started, and the run's first and last event.
type runSpans struct {
	first, last time.Time
	steps       []span
}

// historySpans reads a run's completed steps from its history.
func historySpans(t testing.TB, c sdkclient.Client, id string) runSpans {
	t.Helper()
	var r runSpans
	open := map[int64]*span{}
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		at := ev.GetEventTime().AsTime()
		if r.first.IsZero() {
			r.first = at
		}
		r.last = at
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			open[ev.GetEventId()] = &span{name: ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName(), scheduled: at}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			open[ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()].from = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			s := open[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
			s.to = at
			r.steps = append(r.steps, *s)
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			open[-ev.GetEventId()] = &span{name: "child " + ev.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetWorkflowType().GetName(), scheduled: at}
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			open[-ev.GetChildWorkflowExecutionStartedEventAttributes().GetInitiatedEventId()].from = at
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
			s := open[-ev.GetChildWorkflowExecutionCompletedEventAttributes().GetInitiatedEventId()]
			s.to = at
			r.steps = append(r.steps, *s)
		}
	}
	slices.SortStableFunc(r.steps, func(a, b span) int { return a.from.Compare(b.from) })
	return r
}

// table prints the spans as the bench log shows them: where each second of the run went.
func (r runSpans) table() string {
	var out strings.Builder
	fmt.Fprintf(&out, "  %-28s %9s %9s %9s\n", "step", "start s", "took s", "queued s")
	for _, s := range r.steps {
		fmt.Fprintf(&out, "  %-28s %9.3f %9.3f %9.3f\n", s.name, s.from.Sub(r.first).Seconds(), s.to.Sub(s.from).Seconds(), s.from.Sub(s.scheduled).Seconds())
	}
	wall, overhead := r.overhead()
	fmt.Fprintf(&out, "  %-28s %9s %9.3f\n  %-28s %9s %9.3f\n", "wall", "", wall.Seconds(), "no step running", "", overhead.Seconds())
	return out.String()
}

// overhead is the run's wall time and how much of it no step was running: the time
// Rewind and Temporal themselves took.
func (r runSpans) overhead() (wall, overhead time.Duration) {
	var busy time.Duration
	var end time.Time
	for _, s := range r.steps {
		if s.from.After(end) {
			busy += s.to.Sub(s.from)
			end = s.to
		} else if s.to.After(end) {
			busy += s.to.Sub(end)
			end = s.to
		}
	}
	wall = r.last.Sub(r.first)
	return wall, wall - busy
}

// stackOwnStopStart is how long the stack itself was stopping and starting in a full
// rollback: its stop step, then from the start step's start to the end of the wait until
// healthy. The swap between them is not the stack's own.
func (r runSpans) stackOwnStopStart(t testing.TB) time.Duration {
	t.Helper()
	var stop, start *span
	for i, s := range r.steps {
		switch {
		case s.name == "StopProject" && stop == nil:
			stop = &r.steps[i]
		case (s.name == "ComposeUp" || s.name == "StartProject") && stop != nil && start == nil:
			start = &r.steps[i]
		case s.name == "WaitHealthy" && start != nil:
			return stop.to.Sub(stop.from) + s.to.Sub(start.from)
		}
	}
	t.Fatalf("no stop, start and wait until healthy in the run's spans:\n%s", r.table())
	return 0
}

// rewindOverhead reads a rollback's wall time from its history and how much of it no step
// (activity or child workflow) was running: the time Rewind and Temporal themselves took.
func rewindOverhead(t testing.TB, c sdkclient.Client, id string) (wall, overhead time.Duration) {
	t.Helper()
	return historySpans(t, c, id).overhead()
}

// healthWatch polls the demo API's /health every 100 ms, as a user's monitor would, and
// adds up the time it answered anything but 200.
type healthWatch struct {
	finished chan struct{}
	down     chan time.Duration
}

// watchHealth starts polling; call it just before the damage.
func (e *env) watchHealth() *healthWatch {
	h := &healthWatch{finished: make(chan struct{}), down: make(chan time.Duration, 1)}
	url := fmt.Sprintf("http://127.0.0.1:%d/health", e.apiPort)
	probe := &http.Client{Timeout: time.Second}
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var total time.Duration
		var since time.Time // when the current unhealthy stretch began
		finished := false
		for {
			healthy := false
			if resp, err := probe.Get(url); err == nil {
				healthy = resp.StatusCode == http.StatusOK
				resp.Body.Close()
			}
			now := time.Now()
			switch {
			case !healthy && since.IsZero():
				since = now
			case healthy && !since.IsZero():
				total += now.Sub(since)
				since = time.Time{}
			}
			if healthy && finished {
				h.down <- total
				return
			}
			select {
			case <-tick.C:
			case <-h.finished:
				finished = true
				h.finished = nil
			}
		}
	}()
	return h
}

// untilHealthy says the operation is done and returns the unhealthy time, once /health
// answers 200 again.
func (h *healthWatch) untilHealthy() time.Duration {
	close(h.finished)
	return <-h.down
}

// composeRestart restarts the stack with compose, giving containers the rollback's grace
// period, and times it until every container is healthy and /health answers 200.
func (e *env) composeRestart() time.Duration {
	e.t.Helper()
	start := time.Now()
	require.NoError(e.t, e.compose().Run(context.Background(), "restart", "-t", "5"))
	require.NoError(e.t, demostack.WaitHealthy(context.Background(), e.s.engine, e.project))
	url := fmt.Sprintf("http://127.0.0.1:%d/health", e.apiPort)
	require.Eventually(e.t, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, time.Minute, 10*time.Millisecond)
	return time.Since(start)
}

// awaitStepDone waits until the rollback's checklist shows the step starting with name done.
func (e *env) awaitStepDone(c sdkclient.Client, id, name string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		q, err := c.QueryWorkflow(context.Background(), id, "", api.ProgressQuery)
		if err != nil {
			return false
		}
		var p api.Progress
		if q.Get(&p) != nil {
			return false
		}
		for _, s := range p.Steps {
			if strings.HasPrefix(s.Name, name) {
				return s.State == api.StateDone
			}
		}
		return false
	}, 10*time.Minute, 200*time.Millisecond)
}

// padVolume writes size bytes of half-compressible files into the market database's volume.
func (e *env) padVolume(size int64) {
	e.t.Helper()
	id, err := demostack.DatabaseContainer(context.Background(), e.s.engine, e.project)
	require.NoError(e.t, err)
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		rng := rand.New(rand.NewPCG(1, 2))
		const fileSize = 4 << 20
		buf := make([]byte, fileSize)
		for i := int64(0); i*fileSize < size; i++ {
			for j := range buf {
				buf[j] = byte(rng.Uint32()&0x0f) | 0x40
			}
			if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("db/col-%04d.d", i), Mode: 0o644, Size: fileSize, ModTime: time.Now()}); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := tw.Write(buf); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	_, err = e.s.engine.CopyToContainer(context.Background(), id, client.CopyToContainerOptions{DestinationPath: "/var/lib/questdb", Content: pr})
	require.NoError(e.t, err)
}

// damage corrupts the market database and waits until it serves the damage.
func (e *env) damage() {
	e.t.Helper()
	require.NoError(e.t, demostack.Corrupt(context.Background(), e.s.engine, e.project))
	e.awaitDamaged()
}

// runbookOption2 runs the runbook's Option 2 as written, on this stack, and times it.
func (e *env) runbookOption2(backup string) time.Duration {
	e.t.Helper()
	vol := demostack.Volume(e.project)
	compose := strings.Join(e.s.compose, " ") + " -p " + e.project + " -f " + e.composeFile
	script := fmt.Sprintf(`set -e
# 1. Stop all services
cd %[1]s
%[2]s down
# 2. Identify latest good backup
LATEST_BACKUP=$(ls -t %[3]s/questdb_backup_*.tar.gz | head -1)
echo "Using backup: $LATEST_BACKUP"
# 3. Verify backup checksum (if available)
BACKUP_NAME=$(basename $LATEST_BACKUP .tar.gz)
if [ -f "%[3]s/${BACKUP_NAME}.sha256" ]; then
    (cd %[3]s && sha256sum -c "${BACKUP_NAME}.sha256")
fi
# 4. Backup current state (even if corrupted, for forensics)
docker volume inspect %[4]s > %[5]s/volume_state_before_rollback.txt
tar -czf %[5]s/failed_deployment_$(date +%%Y%%m%%d_%%H%%M%%S).tar.gz /var/lib/docker/volumes/%[4]s/_data
# 5. Remove corrupted volume
docker volume rm %[4]s
# 6. Recreate volume
docker volume create %[4]s
# 7. Restore from backup
VOLUME_PATH=$(docker volume inspect %[4]s --format '{{.Mountpoint}}')
tar -xzf $LATEST_BACKUP -C $(dirname $VOLUME_PATH) --strip-components=1
# 8. Verify restore
ls -la $VOLUME_PATH/db/ | head -3
# 9. Restart services
%[2]s up -d
# 10. Wait for startup
sleep 30
# 11. Verify health
%[2]s ps
curl -s http://127.0.0.1:%[6]d/health
`, filepath.Dir(e.composeFile), compose, filepath.Dir(backup), vol, e.t.TempDir(), e.apiPort)
	start := time.Now()
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	took := time.Since(start)
	require.NoError(e.t, err, "%s", out)
	require.Contains(e.t, string(out), "Healthy")
	return took
}

// approvedToHealthy reads from a rollback's history how long it took from the accepted
// approval to the stack being healthy again.
func approvedToHealthy(t testing.TB, c sdkclient.Client, id string) time.Duration {
	t.Helper()
	var approved, healthy time.Time
	scheduled := map[int64]string{}
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			approved = ev.GetEventTime().AsTime()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[ev.GetEventId()] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()] == "WaitHealthy" && healthy.IsZero() {
				healthy = ev.GetEventTime().AsTime()
			}
		}
	}
	require.False(t, approved.IsZero(), "an approval in the history")
	require.False(t, healthy.IsZero(), "the stack became healthy")
	return healthy.Sub(approved)
}

// BenchmarkManyFullRollbacks starts P1 full rollbacks of 20 small demo stacks at once on
// one worker and times them against one of them alone, in the same run; it reports the
// worker's peak resident memory. Run with make bench.
func BenchmarkManyFullRollbacks(b *testing.B) {
	s := needDocker(b)
	srv, c := startTemporal(b)
	const n = 20
	envs := sharedWorker(b, s, srv.GRPCAddr(), n)
	for _, e := range envs {
		e.up()
		e.goodBackup()
	}
	w := envs[0].startWorker()
	rollback := func(e *env) {
		e.damage()
		code, out, errOut := envs[0].rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench many", "--as", "alice")
		require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	for range b.N {
		start := time.Now()
		rollback(envs[0])
		envs[0].awaitRestored(c, api.WorkflowID(envs[0].stack))
		alone := time.Since(start)

		for _, e := range envs {
			e.damage()
		}
		start = time.Now()
		for _, e := range envs {
			code, out, errOut := envs[0].rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench many", "--as", "alice")
			require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		}
		for _, e := range envs {
			e.awaitRestored(c, api.WorkflowID(e.stack))
		}
		together := time.Since(start)
		peak := peakRSS(b, w.cmd.Process.Pid)
		b.ReportMetric(alone.Seconds(), "one-s")
		b.ReportMetric(together.Seconds(), "twenty-s")
		b.ReportMetric(together.Seconds()/alone.Seconds(), "twenty/one")
		b.ReportMetric(float64(peak)/(1<<20), "worker-peak-MiB")
		benchtable.Raw(b, "many P1 full", n, alone.Seconds(), together.Seconds(), peak)
		benchtable.Add(b, benchtable.Row{Measure: fmt.Sprintf("%d small P1 full rollbacks at once on one worker vs one alone", n), Rewind: benchtable.Seconds(together), Runbook: benchtable.Seconds(alone) + " (one alone)",
			Ratio: together.Seconds() / alone.Seconds(), Goal: "≤ 3×", Met: together.Seconds()/alone.Seconds() <= 3})
		b.Logf("P1 full rollbacks of the demo stack on one worker:\n  one alone        %6.1fs\n  %d at once       %6.1fs = %.2fx one alone\n  worker peak RSS  %6.1f MiB",
			alone.Seconds(), n, together.Seconds(), together.Seconds()/alone.Seconds(), float64(peak)/(1<<20))
	}
}

// sharedWorker is n demo stacks in one rewind.yaml (envs[0]'s), all on the worker's host.
func sharedWorker(t testing.TB, s *suite, temporalAddr string, n int) []*env {
	t.Helper()
	envs := make([]*env, n)
	var blocks []string
	for i := range envs {
		envs[i] = newEnv(t, s, temporalAddr, stackOptions{grace: 2 * time.Second, stack: uniqueName("desk-")})
		blocks = append(blocks, stackBlock(t, envs[i]))
	}
	body, err := os.ReadFile(envs[0].config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(envs[0].config, []byte(strings.Replace(string(body), blocks[0], strings.Join(blocks, ""), 1)), 0o600))
	return envs
}

// peakRSS is a process's peak resident memory (VmHWM).
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			_, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kib)
			require.NoError(t, err)
			return kib << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
