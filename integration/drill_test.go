package integration

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/examples/algotrendy/demostack"
	"github.com/algotrendy/rewind/workflows/api"
)

// drillLeftovers are the containers, networks and volumes any drill left on the engine.
func drillLeftovers(t testing.TB, s *suite) []string {
	t.Helper()
	ctx := context.Background()
	mine := make(client.Filters).Add("label", drill.RunLabel)
	var out []string
	cs, err := s.engine.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: mine})
	require.NoError(t, err)
	for _, c := range cs.Items {
		out = append(out, "container "+c.Names[0])
	}
	ns, err := s.engine.NetworkList(ctx, client.NetworkListOptions{Filters: mine})
	require.NoError(t, err)
	for _, n := range ns.Items {
		out = append(out, "network "+n.Name)
	}
	vs, err := s.engine.VolumeList(ctx, client.VolumeListOptions{Filters: mine})
	require.NoError(t, err)
	for _, v := range vs.Items {
		out = append(out, "volume "+v.Name)
	}
	return out
}

// TestDrillProvesAGoodBackupAndMarksADamagedOneThatFullRollbacksSkip: on the real engine
// and Temporal, the worker keeps the stack's drill Schedule; a drill of a good backup
// records it proven, without touching the live stack and leaving nothing behind; a drill
// of a backup whose archive and sha256 are right but whose database does not open marks
// it failed and pages the approvers; the next full rollback skips it, saying so, and
// restores the proven one. A newest proven backup older than backups.max_age pages.
func TestDrillProvesAGoodBackupAndMarksADamagedOneThatFullRollbacksSkip(t *testing.T) {
	s := needDocker(t)
	srv, c := startTemporal(t)
	hook := startWebhook(t)
	e := newEnv(t, s, srv.GRPCAddr(), stackOptions{grace: 2 * time.Second, stack: uniqueName("demo-"), webhook: hook.url, stackYAML: "    drill: {every: 6h}\n"})
	body, err := os.ReadFile(e.config)
	require.NoError(t, err)
	edited := strings.Replace(string(body), "require_checksum: true}", "require_checksum: true, max_age: 1h}", 1)
	require.NoError(t, os.WriteFile(e.config, []byte(edited), 0o600))
	e.up()
	e.startWorker("REWIND_TEST_WEBHOOK=" + hook.url)
	ctx := context.Background()

	// The worker makes the Schedule the Web UI lists (in the background: a Schedule API
	// that fails must not stop the worker).
	scheduledEvery := func(want time.Duration) {
		t.Helper()
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			sched, err := c.ScheduleClient().GetHandle(ctx, api.DrillScheduleID(e.stack)).Describe(ctx)
			if assert.NoError(ct, err) && assert.Len(ct, sched.Schedule.Spec.Intervals, 1) {
				assert.Equal(ct, want, sched.Schedule.Spec.Intervals[0].Every)
			}
		}, 30*time.Second, 100*time.Millisecond, "the drill Schedule runs every %s", want)
	}
	scheduledEvery(6 * time.Hour)
	// Another worker started with a changed drill.every brings the one Schedule up to date.
	every := func(d string) {
		body, err := os.ReadFile(e.config)
		require.NoError(t, err)
		edited := regexp.MustCompile(`drill: \{every: [^}]*\}`).ReplaceAllString(string(body), "drill: {every: "+d+"}")
		require.NoError(t, os.WriteFile(e.config, []byte(edited), 0o600))
	}
	every("8h")
	e.startWorker("REWIND_TEST_WEBHOOK=" + hook.url)
	scheduledEvery(8 * time.Hour)

	// Taken two hours ago (the time in its name): proven now, yet older than max_age.
	good, err := demostack.Backup(ctx, s.engine, e.project, e.backups, time.Now().Add(-2*time.Hour))
	require.NoError(t, err)
	rows, err := e.rowCount()
	require.NoError(t, err)
	liveDB, err := demostack.DatabaseContainer(ctx, s.engine, e.project)
	require.NoError(t, err)

	code, out, errOut := e.rewind("drill", "--stack", e.stack, "--wait", "--as", "carol")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, out, "proven restorable at")
	require.Contains(t, out, "SELECT COUNT(*) FROM market_data → 500")
	took := regexp.MustCompile(`in ([0-9.]+) s`).FindStringSubmatch(out)
	require.NotNil(t, took, out)
	seconds, _ := strconv.ParseFloat(took[1], 64)
	t.Logf("drill of the demo backup (%d rows): %.1f s", int(rows), seconds)
	recordHistory(t, c, api.DrillWorkflowID(e.stack), "drill/proven.json")
	drills, err := (backups.Drills{Dir: backups.DrillsDir(filepath.Join(e.dir, "state"))}).Load(e.stack)
	require.NoError(t, err)
	require.True(t, drills[filepath.Base(good)].OK, "the good backup is proven: %+v", drills)
	require.Empty(t, drillLeftovers(t, s), "the drill removed what it made")
	info, err := s.engine.ContainerInspect(ctx, liveDB, client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.True(t, info.Container.State.Running, "the live database runs on")
	after, err := e.rowCount()
	require.NoError(t, err)
	require.Equal(t, rows, after, "the live data is as it was")
	require.Contains(t, out, "stale (the on-call was paged): ")
	stale := hook.event(t, notify.KindFailed)
	require.Equal(t, "no proven backup within backups.max_age", stale.Outcome)

	// The Schedule's own run (its ID stamped with the time) drills too.
	handle := c.ScheduleClient().GetHandle(ctx, api.DrillScheduleID(e.stack))
	require.NoError(t, handle.Trigger(ctx, sdkclient.ScheduleTriggerOptions{}))
	var scheduled string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		d, err := handle.Describe(ctx)
		if assert.NoError(ct, err) && assert.NotEmpty(ct, d.Info.RecentActions) {
			scheduled = d.Info.RecentActions[0].StartWorkflowResult.WorkflowID
		}
	}, 30*time.Second, 100*time.Millisecond, "the Schedule starts a drill")
	require.Regexp(t, "^"+regexp.QuoteMeta(api.DrillWorkflowID(e.stack))+`-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, scheduled)
	var byScheduled api.DrillResult
	require.NoError(t, c.GetWorkflow(ctx, scheduled, "").Get(ctx, &byScheduled))
	require.True(t, byScheduled.OK, byScheduled.Detail)
	require.Empty(t, drillLeftovers(t, s))

	damaged := filepath.Join(e.backups, demostack.BackupName(time.Now().Add(time.Minute)))
	require.NoError(t, demostack.Damage(good, damaged))
	code, out, errOut = e.rewind("drill", "--stack", e.stack, "--wait", "--as", "carol")
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	require.Contains(t, errOut, "the drill of "+filepath.Base(damaged)+" failed: the restored database answers but not with the data")
	require.NotContains(t, errOut, "does not restore", "the archive check passed: only the database shows the damage")
	recordHistory(t, c, api.DrillWorkflowID(e.stack), "drill/failed.json")
	drills, err = (backups.Drills{Dir: backups.DrillsDir(filepath.Join(e.dir, "state"))}).Load(e.stack)
	require.NoError(t, err)
	require.False(t, drills[filepath.Base(damaged)].OK, "the damaged backup is marked")
	require.True(t, drills[filepath.Base(good)].OK)
	require.Empty(t, drillLeftovers(t, s), "a failed drill removes what it made too")
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		var paged []notify.Event
		for _, ev := range hook.events {
			if ev.Kind == notify.KindFailed && ev.Outcome == "restore drill failed" {
				paged = append(paged, ev)
			}
		}
		if assert.Len(ct, paged, 1) {
			assert.Equal(ct, filepath.Base(damaged), paged[0].Backup)
			assert.ElementsMatch(ct, []string{"alice", "bob", "carol"}, paged[0].Approvers)
		}
	}, 10*time.Second, 50*time.Millisecond, "the approvers are paged")

	code, out, errOut = e.rewind("start", "full", "--stack", e.stack, "--severity", "P1", "--reason", "restore after a failed drill", "--as", "alice", "--wait")
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	recordHistory(t, c, api.WorkflowID(e.stack), "drill/full-skips-failed.json")
	code, report, errOut := e.rewind("report", api.WorkflowID(e.stack))
	require.Equal(t, 0, code, errOut)
	require.Contains(t, report, filepath.Base(damaged)+": skipped, its restore drill failed at ")
	require.Contains(t, report, "| "+filepath.Base(good)+" |", "the proven backup was restored")
	restored, err := e.rowCount()
	require.NoError(t, err)
	require.Equal(t, rows, restored)

	// Drills turned off: the next worker removes the Schedule.
	every("-1h")
	e.startWorker("REWIND_TEST_WEBHOOK=" + hook.url)
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		_, err := c.ScheduleClient().GetHandle(ctx, api.DrillScheduleID(e.stack)).Describe(ctx)
		var missing *serviceerror.NotFound
		assert.ErrorAs(ct, err, &missing)
	}, 30*time.Second, 100*time.Millisecond, "the Schedule is gone")
}
