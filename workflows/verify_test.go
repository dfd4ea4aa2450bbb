package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/config"
)

// asChild runs Verify as a rollback does: as its child.
func asChild(ctx workflow.Context, in VerifyRequest) (VerifyReport, error) {
	var report VerifyReport
	err := workflow.ExecuteChildWorkflow(ctx, Verify, in).Get(ctx, &report)
	return report, err
}

func TestVerifyStartedOnItsOwnRunsNoCheck(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Verify)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var ran []string
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		ran = append(ran, info.ActivityType.Name)
	})
	env.ExecuteWorkflow(Verify, VerifyRequest{Stack: "prod", Project: "p", HostQueue: "rewind@any-host",
		Checks: config.Checks{DatabaseURL: "http://db:9000", DataQuery: "DROP TABLE market_data"}})
	require.ErrorContains(t, env.GetWorkflowError(), "verification runs only as a step of a Rewind rollback")
	require.Empty(t, ran, "a forged start runs no check")
}

func TestVerifyRunsEveryConfiguredCheckAndReportsEachOne(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Verify)
	env.RegisterWorkflow(asChild)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var d *docker.Activities
	var p *probe.Activities
	env.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(docker.WaitHealthyResult{Services: map[string]string{"api": "healthy", "questdb": "healthy"}}, nil)
	env.OnActivity(p.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, c probe.HTTPCheck) (probe.Result, error) {
		return probe.Result{Name: c.Name, Passed: true, Evidence: "GET " + c.URL + " → 200"}, nil
	})
	env.OnActivity(p.CheckDatabase, mock.Anything, probe.DatabaseCheck{Name: "database answers", URL: "http://db:9000"}).Return(probe.Result{Passed: true, Evidence: "GET http://db:9000 → 200"}, nil)
	env.OnActivity(p.CheckData, mock.Anything, mock.Anything).Return(probe.Result{Passed: false, Evidence: "SELECT COUNT(*) FROM market_data → 0"}, nil)
	env.OnActivity(d.CheckLogs, mock.Anything, docker.LogsCheck{Project: "p", MustHave: []string{"Connected to Binance"}, MustLack: []string{"(?i)critical"}}).
		Return(docker.LogsResult{Passed: true, Evidence: `found "Connected to Binance"`}, nil)

	env.ExecuteWorkflow(asChild, VerifyRequest{Stack: "prod", Project: "p", HostQueue: "q", Checks: config.Checks{
		HealthURL: "http://h/health", DatabaseURL: "http://db:9000", DataQuery: "SELECT COUNT(*) FROM market_data",
		FunctionalURL: "http://h/api/market-data/binance/btcusdt", LogsMustHave: []string{"Connected to Binance"},
		LogsMustLack: []string{"(?i)critical"}, HealthTimeout: time.Minute,
	}})

	require.NoError(t, env.GetWorkflowError())
	var report VerifyReport
	require.NoError(t, env.GetWorkflowResult(&report))
	var names []string
	for _, c := range report.Checks {
		names = append(names, c.Name)
	}
	require.Equal(t, []string{"containers up", "api health", "database answers", "market data endpoint", "data integrity", "log patterns"}, names)
	require.False(t, report.Passed)
	require.Equal(t, []string{"data integrity (SELECT COUNT(*) FROM market_data → 0)"}, report.Failed())
}

func TestVerifyComparesTheDataWithTheBackupsFingerprintAndBoundsResources(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Verify)
	env.RegisterWorkflow(asChild)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var d *docker.Activities
	var p *probe.Activities
	env.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(docker.WaitHealthyResult{Services: map[string]string{"api": "healthy"}}, nil)
	env.OnActivity(p.CheckHTTP, mock.Anything, mock.Anything).Return(probe.Result{Passed: true}, nil)
	env.OnActivity(p.CheckDatabase, mock.Anything, mock.Anything).Return(probe.Result{Passed: true}, nil)
	env.OnActivity(p.CheckData, mock.Anything, mock.MatchedBy(func(c probe.DataCheck) bool { return c.Want == "" })).
		Return(probe.Result{Passed: true, Evidence: "COUNT → 500"}, nil)
	env.OnActivity(p.CheckData, mock.Anything, probe.DataCheck{Name: "data is the backup's (db_data)", URL: "http://db:9000", Query: "SELECT COUNT(*), SUM(price) FROM market_data", Want: "500 | 33000.5"}).
		Return(probe.Result{Passed: false, Evidence: "→ 500 | 12.5, the backup recorded 500 | 33000.5"}, nil)
	env.OnActivity(d.CheckResources, mock.Anything, docker.ResourcesCheck{Project: "p", MaxMemory: 256 << 20}).
		Return(docker.ResourcesResult{Passed: false, Evidence: "p-api-1 uses 300.0 MiB of memory, over the limit of 256.0 MiB"}, nil)

	env.ExecuteWorkflow(asChild, VerifyRequest{Stack: "prod", Project: "p", HostQueue: "q", Checks: config.Checks{
		DatabaseURL: "http://db:9000", DataQuery: "SELECT COUNT(*) FROM market_data", FingerprintQuery: "SELECT COUNT(*), SUM(price) FROM market_data",
		MaxMemory: "256MiB",
	}, Fingerprints: map[string]string{"db_data": "500 | 33000.5"}})

	require.NoError(t, env.GetWorkflowError())
	var report VerifyReport
	require.NoError(t, env.GetWorkflowResult(&report))
	require.False(t, report.Passed)
	require.Equal(t, []string{
		"data is the backup's (db_data) (→ 500 | 12.5, the backup recorded 500 | 33000.5)",
		"resource usage (p-api-1 uses 300.0 MiB of memory, over the limit of 256.0 MiB)",
	}, report.Failed())
}

// TestDatabaseAnswersOverTheWireForPostgreSQL: "database answers" asks a postgres:// URL
// over PostgreSQL's wire protocol; an HTTP GET of it fails every PostgreSQL stack.
func TestDatabaseAnswersOverTheWireForPostgreSQL(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Verify)
	env.RegisterWorkflow(asChild)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var d *docker.Activities
	var p *probe.Activities
	const db = "postgres://postgres@127.0.0.1:55432/postgres"
	env.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(docker.WaitHealthyResult{Services: map[string]string{"postgres": "healthy"}}, nil)
	env.OnActivity(p.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, c probe.HTTPCheck) (probe.Result, error) {
		return probe.Result{Name: c.Name, Evidence: "GET " + c.URL + `: unsupported protocol scheme "postgres"`}, nil
	})
	env.OnActivity(p.CheckDatabase, mock.Anything, probe.DatabaseCheck{Name: "database answers", URL: db}).
		Return(probe.Result{Passed: true, Evidence: "PostgreSQL 15.13 at " + db + " answers"}, nil)
	env.OnActivity(p.CheckData, mock.Anything, mock.Anything).Return(probe.Result{Passed: true, Evidence: "SELECT COUNT(*) FROM trades → 100000"}, nil)

	env.ExecuteWorkflow(asChild, VerifyRequest{Stack: "pg", Project: "p", HostQueue: "q", Checks: config.Checks{
		DatabaseURL: db, DataQuery: "SELECT COUNT(*) FROM trades",
	}})

	require.NoError(t, env.GetWorkflowError())
	var report VerifyReport
	require.NoError(t, env.GetWorkflowResult(&report))
	require.Empty(t, report.Failed())
	require.True(t, report.Passed)
	require.Equal(t, CheckResult{Name: "database answers", Passed: true, Evidence: "PostgreSQL 15.13 at " + db + " answers"}, report.Checks[1])
}
