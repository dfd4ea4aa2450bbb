package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
)

func TestVerifyRunsEveryConfiguredCheckAndReportsEachOne(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(Verify)
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var d *docker.Activities
	var p *probe.Activities
	env.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(docker.WaitHealthyResult{Services: map[string]string{"api": "healthy", "questdb": "healthy"}}, nil)
	env.OnActivity(p.CheckHTTP, mock.Anything, mock.Anything).Return(func(_ context.Context, c probe.HTTPCheck) (probe.Result, error) {
		return probe.Result{Name: c.Name, Passed: true, Evidence: "GET " + c.URL + " → 200"}, nil
	})
	env.OnActivity(p.CheckData, mock.Anything, mock.Anything).Return(probe.Result{Passed: false, Evidence: "SELECT COUNT(*) FROM market_data → 0"}, nil)
	env.OnActivity(d.CheckLogs, mock.Anything, docker.LogsCheck{Project: "p", MustHave: []string{"Connected to Binance"}, MustLack: []string{"(?i)critical"}}).
		Return(docker.LogsResult{Passed: true, Evidence: `found "Connected to Binance"`}, nil)

	env.ExecuteWorkflow(Verify, VerifyRequest{Stack: "prod", Project: "p", HostQueue: "q", Checks: Checks{
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
