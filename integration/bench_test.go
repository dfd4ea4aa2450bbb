package integration

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows"
)

// BenchmarkFullRollback restores the demo stack with 1 GiB of data (half-compressible, as
// database columns are) three ways in one run, each from the same corrupted state: the
// runbook's Option 2 commands as a script (its `sleep 30` included), Rewind's P1 full
// rollback (start to completion), and Rewind's P2 full rollback (approval to healthy,
// from the workflow history). Run with make bench.
//
// REWIND_BENCH_BIN names a folder with another build's worker and rewind (an earlier
// release, to compare with), REWIND_BENCH_SIZE another size in MiB.
func BenchmarkFullRollback(b *testing.B) {
	s := needDocker(b)
	srv, c := startTemporal(b)
	size := int64(1 << 30)
	if v := os.Getenv("REWIND_BENCH_SIZE"); v != "" {
		var mib int64
		_, err := fmt.Sscan(v, &mib)
		require.NoError(b, err)
		size = mib << 20
	}
	e := newEnv(b, s, srv.GRPCAddr(), stackOptions{grace: 5 * time.Second, legacyConfig: os.Getenv("REWIND_BENCH_BIN") != ""})
	if dir := os.Getenv("REWIND_BENCH_BIN"); dir != "" {
		e.bin = dir
	}
	e.up()
	e.padVolume(size)
	start := time.Now()
	backup := e.goodBackup()
	backupTook := time.Since(start)
	st, err := os.Stat(backup)
	require.NoError(b, err)
	want := e.fingerprint()
	e.startWorker()

	for range b.N {
		e.damage()
		script := e.runbookOption2(backup)
		require.Equal(b, want, e.fingerprint(), "the script restored the backup")

		e.damage()
		start := time.Now()
		code, out, errOut := e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "bench P1", "--as", "alice", "--wait")
		p1 := time.Since(start)
		require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		require.Equal(b, want, e.fingerprint())

		e.damage()
		code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P2", "--reason", "bench P2", "--as", "alice")
		require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		id := workflows.WorkflowID(e.stack)
		e.awaitApprovalGate(id)
		if os.Getenv("REWIND_BENCH_BIN") == "" {
			// Approvers take minutes; the staging restore runs meanwhile. Approve once it is
			// done, as the approver of an incident would be.
			e.awaitStepDone(c, id, "Restore the newest good backup into a staging volume")
		}
		code, out, errOut = e.rewind("approve", id, "--as", "bob")
		require.Equal(b, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		e.awaitCompleted(c, id)
		p2 := approvedToHealthy(b, c, id)
		require.Equal(b, want, e.fingerprint())

		b.ReportMetric(script.Seconds(), "runbook-s")
		b.ReportMetric(p1.Seconds(), "p1-s")
		b.ReportMetric(p2.Seconds(), "p2-approved-to-healthy-s")
		b.ReportMetric(p1.Seconds()/script.Seconds(), "p1/runbook")
		b.Logf("%d MiB volume, %.0f MiB backup (made in %.1fs):\n  runbook Option 2 script   %6.1fs\n  Rewind P1 full (total)    %6.1fs = %.2fx the script\n  Rewind P2 approval→healthy %5.1fs = %.2fx the script",
			size>>20, float64(st.Size())/(1<<20), backupTook.Seconds(), script.Seconds(), p1.Seconds(), p1.Seconds()/script.Seconds(), p2.Seconds(), p2.Seconds()/script.Seconds())
	}
}

// awaitStepDone waits until the rollback's checklist shows the step starting with name done.
func (e *env) awaitStepDone(c sdkclient.Client, id, name string) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		q, err := c.QueryWorkflow(context.Background(), id, "", workflows.ProgressQuery)
		if err != nil {
			return false
		}
		var p workflows.Progress
		if q.Get(&p) != nil {
			return false
		}
		for _, s := range p.Steps {
			if strings.HasPrefix(s.Name, name) {
				return s.State == workflows.StateDone
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
		envs[0].awaitRestored(c, workflows.WorkflowID(envs[0].stack))
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
			e.awaitRestored(c, workflows.WorkflowID(e.stack))
		}
		together := time.Since(start)
		peak := peakRSS(b, w.cmd.Process.Pid)
		b.ReportMetric(alone.Seconds(), "one-s")
		b.ReportMetric(together.Seconds(), "twenty-s")
		b.ReportMetric(together.Seconds()/alone.Seconds(), "twenty/one")
		b.ReportMetric(float64(peak)/(1<<20), "worker-peak-MiB")
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
