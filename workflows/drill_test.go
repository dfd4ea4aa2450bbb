package workflows

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/drill"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

// drillRig runs the Drill workflow against stand-ins of its steps and keeps what they
// were asked.
type drillRig struct {
	*testsuite.TestWorkflowEnvironment
	mu       sync.Mutex
	recorded []backups.Drill
	pages    []notify.Event
	removed  int
	// check is what the throwaway's check answers; start what starting it does.
	check, start error
	// checking, when set, answers the check instead.
	checking func(context.Context) (drill.Checked, error)
	// proven is what the host's drill records say after this drill.
	proven map[string]backups.Drill
	// listing, when set, is what every volume lists instead of the two backups.
	listing []backup.Listed
}

func newDrillRig(t *testing.T) *drillRig {
	return newDrillRigOf(t, `[{name: db_data, pattern: "backup_*.tar.gz"}]`)
}

// newDrillRigOf is newDrillRig for a stack of these volumes (YAML); each lists the same two
// backups.
func newDrillRigOf(t *testing.T, volumes string) *drillRig {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
stacks:
  prod:
    project: algotrendy
    compose_files: [docker-compose.prod.yml]
    host: docker-1
    volumes: `+volumes+`
    backups: {dir: /backups, require_checksum: true, max_age: 1h}
    checks: {database_url: "http://127.0.0.1:9000", data_query: "SELECT COUNT(*) FROM market_data", health_timeout: 1m}
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior}
`), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	r := &drillRig{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.DrillWorkflowID("prod")})
	r.RegisterWorkflow(Drill)
	r.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1"})
	for _, a := range []any{&drill.Activities{}, &backup.Activities{}, &notify.Activities{}} {
		r.RegisterActivity(a)
	}
	var b *backup.Activities
	var d *drill.Activities
	var n *notify.Activities
	now := r.Now()
	r.OnActivity(b.ListBackups, mock.Anything, mock.Anything).Return(func(context.Context, backup.ListInput) ([]backup.Listed, error) {
		if r.listing != nil {
			return r.listing, nil
		}
		return []backup.Listed{
			{Object: storage.Object{Name: "backup_2.tar.gz", ModTime: now.Add(-10 * time.Minute)}, SHA256: "22"},
			{Object: storage.Object{Name: "backup_1.tar.gz", ModTime: now.Add(-3 * time.Hour)}, SHA256: "11"},
		}, nil
	})
	r.OnActivity(b.DownloadBackup, mock.Anything, mock.Anything).Return(backup.Downloaded{Path: "/backups/backup_2.tar.gz"}, nil)
	r.OnActivity(d.RestoreForDrill, mock.Anything, mock.Anything).Return(func(_ context.Context, in drill.RestoreInput) (volume.RestoreResult, error) {
		if in.Staging != drill.Name(testRunID, in.For) || in.SHA256 != "22" {
			return volume.RestoreResult{}, temporal.NewNonRetryableApplicationError("unexpected restore "+in.Staging, failure.BadInput, nil)
		}
		if in.For == "broken_data" {
			return volume.RestoreResult{}, temporal.NewNonRetryableApplicationError("damaged halfway", failure.CorruptBackup, nil)
		}
		return volume.RestoreResult{Entries: 3}, nil
	})
	r.OnActivity(d.StartThrowaway, mock.Anything, mock.Anything).Return(func(context.Context, drill.DatabaseInput) (drill.Throwaway, error) {
		return drill.Throwaway{Container: "rewind-drill-x", Service: "questdb", Image: "questdb:local"}, r.start
	})
	r.OnActivity(d.CheckThrowaway, mock.Anything, mock.Anything).Return(func(ctx context.Context, _ drill.CheckInput) (drill.Checked, error) {
		if r.checking != nil {
			return r.checking(ctx)
		}
		return drill.Checked{Evidence: "SELECT COUNT(*) FROM market_data → 500"}, r.check
	})
	r.OnActivity(d.RecordDrill, mock.Anything, mock.Anything).Return(func(_ context.Context, in drill.RecordInput) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.recorded = append(r.recorded, in.Drill)
		return nil
	})
	r.OnActivity(d.RemoveDrill, mock.Anything, mock.Anything).Return(func(context.Context, drill.CleanupInput) (drill.Removed, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.removed++
		return drill.Removed{}, nil
	})
	r.OnActivity(d.Drills, mock.Anything, drill.StackInput{Stack: "prod"}).Return(func(context.Context, drill.StackInput) (map[string]backups.Drill, error) {
		return r.proven, nil
	})
	r.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, ev notify.Event) (notify.Result, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.pages = append(r.pages, ev)
		return notify.Result{}, nil
	})
	return r
}

func TestADrillOfAGoodBackupRecordsItProven(t *testing.T) {
	r := newDrillRig(t)
	r.proven = map[string]backups.Drill{"backup_2.tar.gz": {Name: "backup_2.tar.gz", SHA256: "22", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod", By: "schedule"})
	require.NoError(t, r.GetWorkflowError())
	var res api.DrillResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.True(t, res.OK)
	require.Equal(t, []string{"backup_2.tar.gz"}, res.Backups)
	require.Contains(t, res.Detail, "proven restorable at ")
	require.Contains(t, res.Detail, "questdb of questdb:local started on the restored data; SELECT COUNT(*) FROM market_data → 500")
	require.Len(t, r.recorded, 1)
	require.True(t, r.recorded[0].OK)
	require.Equal(t, api.DrillWorkflowID("prod")+"/"+testRunID, r.recorded[0].By)
	require.Equal(t, 1, r.removed)
	require.Empty(t, r.pages, "a proven, fresh backup pages no one")
	require.Empty(t, res.Stale)
}

func TestADrillWhoseDatabaseServesNoDataMarksTheBackupAndPages(t *testing.T) {
	r := newDrillRig(t)
	r.check = temporal.NewNonRetryableApplicationError("the restored database answers but not with the data: malformed", drill.Failed, nil)
	r.proven = map[string]backups.Drill{"backup_2.tar.gz": {Name: "backup_2.tar.gz", SHA256: "22", OK: false}, "backup_1.tar.gz": {Name: "backup_1.tar.gz", SHA256: "11", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod", By: "schedule"})
	err := r.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, drill.Failed, appErr.Type())
	require.ErrorContains(t, err, "the drill of backup_2.tar.gz failed: the restored database answers but not with the data: malformed")
	require.Len(t, r.recorded, 1)
	require.False(t, r.recorded[0].OK)
	require.Contains(t, r.recorded[0].Detail, "malformed")
	require.Equal(t, 1, r.removed, "what the drill made is removed")
	require.Len(t, r.pages, 2)
	require.Equal(t, "restore drill failed", r.pages[0].Outcome)
	require.Equal(t, []string{"alice", "bob"}, r.pages[0].Approvers)
	require.Equal(t, "backup_2.tar.gz", r.pages[0].Backup)
	// The newest proven backup is three hours old against a max_age of one.
	require.Equal(t, "no proven backup within backups.max_age", r.pages[1].Outcome)
	require.Contains(t, r.pages[1].Detail, "the newest proven backup backup_1.tar.gz is 3h0m0s old")
}

func TestADrillThatCouldNotRunSaysNothingOfTheBackup(t *testing.T) {
	r := newDrillRig(t)
	r.start = temporal.NewNonRetryableApplicationError("the engine refused", failure.EngineRefused, nil)
	r.proven = map[string]backups.Drill{"backup_2.tar.gz": {Name: "backup_2.tar.gz", SHA256: "22", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.ErrorContains(t, r.GetWorkflowError(), "start a throwaway database: the engine refused")
	require.Empty(t, r.recorded, "the backup is neither proven nor marked")
	require.Equal(t, 1, r.removed)
	require.Len(t, r.pages, 1)
	require.Contains(t, r.pages[0].Detail, "the drill could not run")
}

func TestADrillRunsOnlyAsTheStacksDrill(t *testing.T) {
	r := newDrillRig(t)
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.WorkflowID("prod")})
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.ErrorContains(t, r.GetWorkflowError(), "a drill of stack prod runs as rewind-prod-drill, not rewind-prod; nothing was restored or started")
	require.Zero(t, r.removed)
}

// A full rollback skips the newest backup when its latest drill failed, says why in the
// report, and restores the next; it never fetches the skipped one.
func TestFullSkipsABackupWhoseDrillFailed(t *testing.T) {
	r := newRig(t, rigOptions{first: func(r *rig) {
		var d *drill.Activities
		r.OnActivity(d.Drills, mock.Anything, drill.StackInput{Stack: "prod"}).Return(map[string]backups.Drill{
			"db_data_2.tar.gz": {Name: "db_data_2.tar.gz", SHA256: sha('2'), OK: false, At: time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC), Detail: "the restored database did not start"},
			"db_data_1.tar.gz": {Name: "db_data_1.tar.gz", OK: true},
		}, nil)
	}})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "restored db_data_1.tar.gz", res.Notice)
	require.False(t, r.ran("fetch db_data_2.tar.gz"), "the backup whose drill failed is not even fetched")
	require.Contains(t, res.Report, "- db_data_2.tar.gz: skipped, its restore drill failed at 2026-12-03T04:00:00Z: the restored database did not start")
}

// A failed drill of another file once under the backup's name (its SHA256 differs) is no
// drill of the backup there now: it is restored.
func TestFullRestoresABackupReplacedSinceItsDrillFailed(t *testing.T) {
	r := newRig(t, rigOptions{first: func(r *rig) {
		var d *drill.Activities
		r.OnActivity(d.Drills, mock.Anything, drill.StackInput{Stack: "prod"}).Return(map[string]backups.Drill{
			"db_data_2.tar.gz": {Name: "db_data_2.tar.gz", SHA256: sha('x'), OK: false, Detail: "the restored database did not start"},
		}, nil)
	}})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))
	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "restored db_data_2.tar.gz", res.Notice)
}

// Drill records that cannot be read stop no rollback: it skips nothing and says why.
func TestFullGoesOnWhenTheDrillsCannotBeRead(t *testing.T) {
	r := newRig(t, rigOptions{first: func(r *rig) {
		var d *drill.Activities
		r.OnActivity(d.Drills, mock.Anything, drill.StackInput{Stack: "prod"}).Return(nil,
			temporal.NewNonRetryableApplicationError("read the drills of prod: /state/drills/prod/db_data_2.tar.gz.json: unexpected end of JSON input; delete the file", drill.Unreadable, nil))
	}})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))
	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "restored db_data_2.tar.gz", res.Notice)
	require.Contains(t, res.Report, `no backup was skipped for a failed restore drill: read the drills of prod: /state/drills/prod/db\_data\_2.tar.gz.json`)
}

// Freshness counts from the time in a backup's name, as the CLI and retention do: a
// fresh copy of an old backup is not a fresh backup. A proven record of another file once
// under the name proves nothing.
func TestADrillJudgesFreshnessByTheTimeInTheName(t *testing.T) {
	r := newDrillRig(t)
	r.listing = []backup.Listed{{Object: storage.Object{Name: "backup_20200101_000000.tar.gz", ModTime: r.Now().Add(-time.Minute)}, SHA256: "22"}}
	r.proven = map[string]backups.Drill{"backup_20200101_000000.tar.gz": {Name: "backup_20200101_000000.tar.gz", SHA256: "22", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.NoError(t, r.GetWorkflowError())
	var res api.DrillResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Contains(t, res.Stale, "db_data: the newest proven backup backup_20200101_000000.tar.gz is ")

	r = newDrillRig(t)
	r.proven = map[string]backups.Drill{"backup_2.tar.gz": {Name: "backup_2.tar.gz", SHA256: "another file", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "db_data: no backup is proven by a drill", res.Stale)
}

// A check that got no answer in time is the host's trouble: the backup is not marked.
func TestADrillWhoseDatabaseNeverAnsweredMarksNothing(t *testing.T) {
	r := newDrillRig(t)
	r.check = temporal.NewNonRetryableApplicationError("the restored database did not answer within 1m0s (checks.health_timeout)", drill.Inconclusive, nil)
	r.proven = map[string]backups.Drill{"backup_2.tar.gz": {Name: "backup_2.tar.gz", SHA256: "22", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.ErrorContains(t, r.GetWorkflowError(), "did not answer within 1m0s")
	require.Empty(t, r.recorded, "no verdict on the backup")
	require.Len(t, r.pages, 1)
	require.Contains(t, r.pages[0].Detail, "the drill could not run")
}

// A drill that stopped before listing a volume pages nothing of that volume's backups.
func TestADrillSaysNothingOfVolumesItDidNotList(t *testing.T) {
	r := newDrillRigOf(t, `[{name: broken_data, pattern: "broken_*.tar.gz"}, {name: db_data, pattern: "backup_*.tar.gz"}]`)
	r.proven = map[string]backups.Drill{"backup_1.tar.gz": {Name: "backup_1.tar.gz", SHA256: "11", OK: true}}
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.Error(t, r.GetWorkflowError())
	require.Len(t, r.pages, 2)
	require.Equal(t, "broken_data: the newest proven backup backup_1.tar.gz is 3h0m0s old, older than backups.max_age 1h0m0s", r.pages[1].Detail, "db_data was never listed")
}

// A drill cancelled while its database is checked still removes what it made.
func TestACancelledDrillRemovesWhatItMade(t *testing.T) {
	r := newDrillRig(t)
	r.checking = func(ctx context.Context) (drill.Checked, error) {
		<-ctx.Done()
		return drill.Checked{}, ctx.Err()
	}
	r.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == "CheckThrowaway" {
			r.CancelWorkflow()
		}
	})
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.True(t, temporal.IsCanceledError(r.GetWorkflowError()), "%v", r.GetWorkflowError())
	require.Equal(t, 1, r.removed, "the throwaway database and the drill's volumes are removed")
	require.Empty(t, r.recorded, "a cancelled drill says nothing of the backup")
}

// A backup that does not restore is the only one marked: the other volume's backup,
// restored fine, is neither proven nor failed by this drill.
func TestADrillMarksOnlyTheBackupThatDidNotRestore(t *testing.T) {
	r := newDrillRigOf(t, `[{name: db_data, pattern: "backup_*.tar.gz"}, {name: broken_data, pattern: "broken_*.tar.gz"}]`)
	r.ExecuteWorkflow(Drill, api.DrillRequest{Stack: "prod"})
	require.ErrorContains(t, r.GetWorkflowError(), "backup_2.tar.gz does not restore: damaged halfway")
	require.Len(t, r.recorded, 1)
	require.False(t, r.recorded[0].OK)
	require.Equal(t, 1, r.removed)
}
