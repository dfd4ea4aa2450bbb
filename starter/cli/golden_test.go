package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/gitref"
	"github.com/algotrendy/rewind/meter"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/workflows/api"
)

// The golden tests pin what each command prints, byte for byte, on fixed views of a P2
// full rollback of prod: waiting for approval, completed, and failed and put back.
// `make golden` (REWIND_UPDATE_GOLDEN=1) rewrites testdata/*.golden after a wanted change.

// TestMain shows local times as UTC, so the golden files read the same wherever they run.
func TestMain(m *testing.M) {
	time.Local = time.UTC
	os.Exit(m.Run())
}

// began is when the fixture rollback started; at is the moment each view is taken.
var began = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return began.Add(d) }

// fixtureSteps is the checklist of a full rollback, the first n steps done as a real run
// reports them.
func fixtureSteps(n int) []api.Step {
	details := []string{
		"2 containers captured, 1 newest backups listed",
		"algotrendy_v26_questdb_data",
		"algotrendy_v26_questdb_data: questdb_backup_20261126_020000.tar.gz (1843 entries, 2.1 GiB)",
		"approved by bob (senior) to restore questdb_backup_20261126_020000.tar.gz 4f1c9a0e7b2d",
		"2 stopped, 0 killed",
		"algotrendy_v26_questdb_data: renamed in; the damaged data kept whole in volume rewind-forensic-01a218a5-algotrendy_v26_questdb_data",
		"compose up -d",
		"api healthy, questdb healthy after 41s",
		"7 checks passed",
		"algotrendy_v26_questdb_data: incidents/20261126/rewind-prod/01a218a5/failed_deployment_algotrendy_v26_questdb_data.tar.gz (sha256 d86e1a4a4280), volume rewind-forensic-01a218a5-algotrendy_v26_questdb_data freed",
		"rewind-staging-01a218a5-algotrendy_v26_questdb_data",
		"incidents/20261126/rewind-prod/01a218a5/report.md",
	}
	took := []time.Duration{4 * time.Second, time.Second, 3*time.Minute + 12*time.Second, 6 * time.Minute, 9 * time.Second, 2 * time.Second, 5 * time.Second, 41 * time.Second, 3 * time.Second, 2*time.Minute + 30*time.Second, time.Second, 800 * time.Millisecond}
	var steps []api.Step
	t := began
	for i, name := range api.Steps(api.OptionFull) {
		s := api.Step{Name: name, State: api.StatePending}
		if i < n {
			s = api.Step{Name: name, State: api.StateDone, Detail: details[i], Started: t, Finished: t.Add(took[i])}
			t = t.Add(took[i])
		}
		steps = append(steps, s)
	}
	return steps
}

const fixtureUI = "http://127.0.0.1:8233/namespaces/default/workflows/rewind-prod/01a218a5-6792-7529-9397-96e7b6578679"

func fixtureView(status string, steps []api.Step) StatusView {
	return StatusView{
		WorkflowID: "rewind-prod", RunID: "01a218a5-6792-7529-9397-96e7b6578679", Status: status, Started: began, UI: fixtureUI,
		Progress: api.Progress{Summary: "full rollback of prod, P2, by alice", Phase: "starting", Steps: steps},
	}
}

// waitingView is the rollback with its backup staged, waiting for a senior's approval.
func waitingView() StatusView {
	steps := fixtureSteps(3)
	steps[3].State, steps[3].Started = api.StateWaiting, steps[2].Finished
	steps[3].Detail = "P2 needs a senior or above within 15m0s: rewind approve rewind-prod --as NAME"
	v := fixtureView("running", steps)
	v.Progress.Phase = "waiting for approval"
	v.Progress.Decisions = []api.DecisionRecord{
		{At: at(3*time.Minute + 20*time.Second), Approver: "carol", Reason: "carol is on-call; a P2 needs senior or above"},
	}
	return v
}

// restoringView is the rollback restoring the newest good backup into a staging volume,
// its first attempt lost with a worker that stopped.
func restoringView(read int64) StatusView {
	steps := fixtureSteps(2)
	steps[2].State, steps[2].Started = api.StateRunning, steps[1].Finished
	v := fixtureView("running", steps)
	v.Progress.Phase = steps[2].Name
	v.Running = []RunningStep{{Activity: "RestoreVolume", Attempt: 2, Done: read, Total: 2 << 30,
		Progress:    meter.MiB(read) + " of 2048.0 MiB of the backup read",
		LastFailure: "activity Heartbeat timeout"}}
	return v
}

func completedView() StatusView {
	v := fixtureView("completed", fixtureSteps(12))
	v.Closed = v.Progress.Steps[11].Finished
	v.Progress.Phase, v.Progress.Outcome = "completed", "completed"
	v.Progress.Decisions = []api.DecisionRecord{
		{At: at(3*time.Minute + 20*time.Second), Approver: "carol", Reason: "carol is on-call; a P2 needs senior or above"},
		{At: at(9*time.Minute + 16*time.Second), Approver: "bob", Approve: true, Accepted: true, Reason: "approved by bob (senior) to restore questdb_backup_20261126_020000.tar.gz 4f1c9a0e7b2d"},
	}
	return v
}

// failedView is the rollback that started the restored stack, found it unhealthy and put
// everything back as it was.
func failedView() StatusView {
	steps := fixtureSteps(7)
	steps[7].State, steps[7].Started, steps[7].Finished = api.StateFailed, steps[6].Finished, steps[6].Finished.Add(2*time.Minute)
	steps[7].Detail = "api not healthy after 2m0s: GET http://localhost:5002/health → 503"
	steps = append(steps, api.Step{Name: "Put the stack back as it was", State: api.StateDone, Started: steps[7].Finished, Finished: steps[7].Finished.Add(48 * time.Second),
		Detail: "put back and healthy: what it started stopped, volume algotrendy_v26_questdb_data back in place, the stack started again"})
	v := fixtureView("failed", steps)
	v.Closed = steps[len(steps)-1].Finished
	v.Progress.Phase, v.Progress.Outcome = "failed", "failed"
	v.Progress.Notice = "wait until healthy: api not healthy after 2m0s: GET http://localhost:5002/health → 503; " + steps[len(steps)-1].Detail + "; evidence: incidents/20261126/rewind-prod/01a218a5"
	return v
}

func TestStatusPrintsTheSameChecklistEveryTime(t *testing.T) {
	for name, tc := range map[string]struct {
		v   StatusView
		now time.Time
	}{
		"waiting":   {waitingView(), at(5 * time.Minute)},
		"completed": {completedView(), at(time.Hour)},
		"failed":    {failedView(), at(time.Hour)},
	} {
		var out bytes.Buffer
		printStatus(&out, tc.v, tc.now)
		requireGolden(t, "status-"+name+".golden", out.String())
	}
}

// TestWatchPipedPrintsEachLineOnce follows the rollback from its staging restore to the
// end as a pipe sees it: each line once, steps in flight at most every few seconds, no
// escape codes.
func TestWatchPipedPrintsEachLineOnce(t *testing.T) {
	var out bytes.Buffer
	f := &follower{id: "rewind-prod", scr: newScreen(&out)}
	looks := []struct {
		v   StatusView
		now time.Time
	}{
		{restoringView(512 << 20), at(time.Minute)},
		{restoringView(640 << 20), at(time.Minute + 2*time.Second)},
		{restoringView(1280 << 20), at(time.Minute + 7*time.Second)},
		{waitingView(), at(5 * time.Minute)},
		{waitingView(), at(5*time.Minute + time.Second)},
		{completedView(), at(20 * time.Minute)},
	}
	for i, l := range looks {
		ended, err := f.see(l.v, l.now)
		require.NoError(t, err)
		require.Equal(t, i == len(looks)-1, ended, "look %d", i)
	}
	requireGolden(t, "watch-piped.golden", out.String())

	ended, err := f.see(failedView(), at(time.Hour))
	require.True(t, ended)
	require.EqualError(t, err, "rollback rewind-prod ended failed: "+failedView().Progress.Notice)
}

func TestListPrintsOneRollbackALine(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printList(&out, []ListItem{
		{WorkflowID: "rewind-prod", Stack: "prod", Option: "full", Severity: "P2", Phase: "waiting for approval", Status: "running", Started: at(0)},
		{WorkflowID: "rewind-group-markets", Stack: "group-markets", Option: "quick", Severity: "P1", Phase: "completed", Status: "completed", Started: at(-26 * time.Hour)},
		{WorkflowID: "rewind-staging", Stack: "staging", Option: "emergency", Severity: "P1", Phase: "failed", Status: "failed", Started: at(-72 * time.Hour)},
	}))
	requireGolden(t, "list.golden", out.String())
}

// fixtureBackups are two nights of backups of prod's volume and the one Rewind took before
// today's deploy: the newest damaged (its drill failed too), the one before read whole by
// last night's rollback and proven by a drill, the oldest never read.
func fixtureBackups() []BackupView {
	return []BackupView{
		{Volume: "algotrendy_v26_questdb_data", Name: "questdb_backup_20261126_020000.tar.gz", Modified: at(-time.Hour), Size: 2254857830,
			Checksum: "4f1c9a0e7b2d5c3a8e6f1d0b9a7c5e3f2d1c0b9a8f7e6d5c4b3a291807f6e5d4",
			Last: &backups.Verdict{Name: "questdb_backup_20261126_020000.tar.gz", At: at(-10 * time.Minute), By: "rewind backups --verify by alice",
				Detail: "backup questdb_backup_20261126_020000.tar.gz in /root/AlgoTrendy_v2.6/backups: damaged after 1210 entries: unexpected EOF (the runbook's `tar -tzf` fails on it too)"},
			Drill: &backups.Drill{Name: "questdb_backup_20261126_020000.tar.gz", At: at(-50 * time.Minute), Detail: "the database did not start: unexpected EOF"},
			Ours:  true, Reason: backups.DeployReason("v2.6")},
		{Volume: "algotrendy_v26_questdb_data", Name: "questdb_backup_20261125_020000.tar.gz", Modified: at(-25 * time.Hour), Size: 2231369728,
			Checksum: "9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b",
			Last: &backups.Verdict{Name: "questdb_backup_20261125_020000.tar.gz", At: at(-20 * time.Hour), OK: true, By: "rewind-prod run 01a218a5", Restored: true,
				Bytes: 2231369728, Seconds: 118.4, Detail: "restored: 1843 entries, 2.1 GiB"},
			Drill: &backups.Drill{Name: "questdb_backup_20261125_020000.tar.gz", At: at(-22 * time.Hour), OK: true, Seconds: 41.2, Detail: "SELECT COUNT(*) FROM market_data: 1843"},
			Ours:  true},
		{Volume: "algotrendy_v26_questdb_data", Name: "questdb_backup_20261124_020000.tar.gz", Modified: at(-49 * time.Hour), Size: 812},
	}
}

func TestBackupsPrintsEachWithWhatRewindLastFound(t *testing.T) {
	var out bytes.Buffer
	o := &Options{}
	NewRootCmd(o)
	o.ConfigPath = "../../rewind.example.yaml"
	cfg, err := o.Config()
	require.NoError(t, err)
	s, err := cfg.Stack("prod")
	require.NoError(t, err)
	printBackups(&out, s, fixtureBackups(), at(0))
	// Nothing proven, and the newest proven backup older than backups.max_age.
	printBackups(&out, s, nil, at(0))
	s.Backups.MaxAge = 20 * time.Hour
	printBackups(&out, s, fixtureBackups(), at(0))
	requireGolden(t, "backups.golden", out.String())
}

// fixtureHost is a host whose checkout and store answer as prod's would.
type fixtureHost struct {
	views    []BackupView
	verdicts map[string]backups.Verdict
	resolved gitref.Resolved
	err      error
}

func (h fixtureHost) resolve(dir, ref string) (gitref.Resolved, error) { return h.resolved, h.err }
func (h fixtureHost) backupsOf() ([]BackupView, error)                 { return h.views, h.err }
func (h fixtureHost) readWhole(b BackupView) backups.Verdict           { return h.verdicts[b.Name] }

func TestPlanPrintsTheStepsApprovalAndWhatItWouldRestore(t *testing.T) {
	o := &Options{}
	NewRootCmd(o)
	o.ConfigPath = "../../rewind.example.yaml" // after the flags, which set their defaults
	views := fixtureBackups()
	host := fixtureHost{
		views: views,
		verdicts: map[string]backups.Verdict{
			views[0].Name: {OK: false, Detail: views[0].Last.Detail},
			views[1].Name: {OK: true, Seconds: 21.5, Detail: "read whole: 1843 entries, 2.1 GiB unpacked, sha256 matches its sidecar"},
		},
		resolved: gitref.Resolved{Ref: "v2.5", Commit: "3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a", Head: "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"},
	}
	now := func() time.Time { return at(0) }
	var out bytes.Buffer
	for _, tc := range []struct{ option, severity string }{
		{api.OptionFull, "P2"}, {api.OptionQuick, "P1"}, {api.OptionGit, "P3"}, {api.OptionEmergency, "P1"},
	} {
		p, _, err := o.planOf(tc.option, startFlags{stack: "prod", severity: tc.severity})
		require.NoError(t, err)
		require.NoError(t, writePlan(&out, p, host, now))
		out.WriteString("\n")
	}
	requireGolden(t, "plan.golden", out.String())

	// Only the damaged backup pinned, and no staging restore on this host to measure by;
	// then a version the checkout does not have.
	out.Reset()
	unmeasured := fixtureHost{views: fixtureBackups(), verdicts: host.verdicts}
	for i := range unmeasured.views {
		unmeasured.views[i].Last = nil
	}
	p, _, err := o.planOf(api.OptionFull, startFlags{stack: "prod", severity: "P2", backup: views[0].Name})
	require.NoError(t, err)
	err = writePlan(&out, p, unmeasured, now)
	require.EqualError(t, err, "the rollback would fail: no backup of algotrendy_v26_questdb_data restores; `rewind backups prod` lists them")
	out.WriteString("\n")
	p, _, err = o.planOf(api.OptionGit, startFlags{stack: "prod", severity: "P3", to: "v9"})
	require.NoError(t, err)
	require.Equal(t, "v9", p.Ref)
	host.err = errors.New(`/root/AlgoTrendy_v2.6 has no version "v9"; its tags: v2.6, v2.5`)
	err = writePlan(&out, p, host, now)
	require.EqualError(t, err, `the rollback would fail: /root/AlgoTrendy_v2.6 has no version "v9"; its tags: v2.6, v2.5`)
	requireGolden(t, "plan-failing.golden", out.String())
}

// TestReportPrintsTheArchivedReportAsItIs prints the report of a recorded full rollback.
func TestReportPrintsTheArchivedReportAsItIs(t *testing.T) {
	body, err := os.ReadFile("testdata/report-full.result.json")
	require.NoError(t, err)
	var res api.Result
	require.NoError(t, json.Unmarshal(body, &res))
	var out bytes.Buffer
	require.NoError(t, printReport(&out, "rewind-demo", res))
	requireGolden(t, "report.golden", out.String())

	err = printReport(&out, "rewind-prod", api.Result{Option: api.OptionEmergency})
	require.EqualError(t, err, "rollback rewind-prod wrote no report (only full, quick and git rollbacks do)")
}

// TestBackupsPruneDryRunSaysWhatGoesAndWhy: a week of backups Rewind took, the two newest
// failed their drills, so the newest proven one is the third; one is an operator's own.
func TestBackupsPruneDryRunSaysWhatGoesAndWhy(t *testing.T) {
	var views []BackupView
	for day := 7; day >= 1; day-- {
		name := fmt.Sprintf("questdb_backup_202611%02d_020000.tar.gz", day)
		b := BackupView{Volume: "algotrendy_v26_questdb_data", Name: name, Modified: time.Date(2026, 11, day, 2, 0, 0, 0, time.UTC), Size: 812, Ours: day != 4}
		switch day {
		case 7, 6:
			b.Drill = &backups.Drill{Name: name, OK: false, Detail: "count 0"}
		case 5, 2:
			b.Drill = &backups.Drill{Name: name, OK: true}
		}
		views = append(views, b)
	}
	var s config.Stack
	s.Volumes = []config.Volume{{Name: "algotrendy_v26_questdb_data", Pattern: "questdb_backup_*.tar.gz"}}
	s.Backups.Keep = retention.Policy{Last: 2}
	var out bytes.Buffer
	plan := prunePlan(s, views, nil)
	printPrunePlan(&out, s, plan)
	requireGolden(t, "backups-prune.golden", out.String())

	var removed []string
	for _, p := range plan {
		if !p.Keep {
			removed = append(removed, p.Name)
		}
	}
	require.Equal(t, []string{"questdb_backup_20261103_020000.tar.gz", "questdb_backup_20261102_020000.tar.gz", "questdb_backup_20261101_020000.tar.gz"}, removed,
		"the newest proven (the 5th) and the operator's (the 4th) stay")

	// Removing is the worker's: the CLI refuses and says where retention runs.
	o := &Options{}
	root := NewRootCmd(o)
	root.SetArgs([]string{"backups", "--stack", "prod", "--prune"})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	err := root.Execute()
	require.ErrorContains(t, err, "--prune --dry-run")
	require.ErrorContains(t, err, "after each rewind backup")
}
