package workflows

import (
	"maps"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
)

// versionDatabaseProtocol: "database answers" asks the database in its own protocol
// (probe.CheckDatabase) instead of an HTTP GET of its URL.
const versionDatabaseProtocol = "database-answers-in-its-protocol"

// VerifyRequest is what the verification child workflow checks.
type VerifyRequest struct {
	Stack     string
	Project   string
	HostQueue string
	Checks    config.Checks
	// Fingerprints are the data fingerprints recorded with the restored backups, by volume.
	Fingerprints map[string]string `json:",omitempty"`
}

// CheckResult is one check of the runbook's post-rollback verification.
type CheckResult struct {
	Name     string
	Passed   bool
	Evidence string
}

// VerifyReport lists every check with what it saw.
type VerifyReport struct {
	Passed bool
	Checks []CheckResult
}

// Failed names the checks that did not pass.
func (v VerifyReport) Failed() []string {
	var out []string
	for _, c := range v.Checks {
		if !c.Passed {
			out = append(out, c.Name+" ("+c.Evidence+")")
		}
	}
	return out
}

// Verify is the runbook's "Post-Rollback Verification" as a child workflow: each configured
// check runs as an activity on the Docker host and reports pass or fail with its evidence.
// It runs only as a rollback's child: its checks and host come from the worker's own
// configuration through the parent, never from someone who starts it directly.
func Verify(ctx workflow.Context, in VerifyRequest) (VerifyReport, error) {
	if workflow.GetInfo(ctx).ParentWorkflowExecution == nil {
		return VerifyReport{}, temporal.NewNonRetryableApplicationError(
			"verification runs only as a step of a Rewind rollback, which takes its checks from the worker's configuration; start one with `rewind start`", failure.BadInput, nil)
	}
	ctx = workflow.WithActivityOptions(ctx, checkOptions(in.HostQueue))
	var p *probe.Activities
	var d *docker.Activities
	c := in.Checks
	var report VerifyReport
	add := func(r CheckResult) { report.Checks = append(report.Checks, r) }

	var healthy docker.WaitHealthyResult
	err := workflow.ExecuteActivity(withSummary(ctx, "Containers up — "+in.Stack), d.WaitHealthy,
		docker.WaitHealthyInput{Project: in.Project, Timeout: 30 * time.Second}).Get(ctx, &healthy)
	add(CheckResult{Name: "containers up", Passed: err == nil, Evidence: evidenceOf(healthy.Summary(), err)})

	checkHTTP := func(name string, hc probe.HTTPCheck) {
		var r probe.Result
		err := workflow.ExecuteActivity(withSummary(ctx, name+" — "+in.Stack), p.CheckHTTP, hc).Get(ctx, &r)
		add(CheckResult{Name: name, Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
	}
	if c.HealthURL != "" {
		expect := c.HealthExpect
		if expect == "" {
			expect = "Healthy"
		}
		checkHTTP("api health", probe.HTTPCheck{Name: "api health", URL: c.HealthURL, Expect: expect})
	}
	if c.DatabaseURL != "" {
		// In the database's own protocol: PostgreSQL's wire for postgres://, an HTTP API
		// (QuestDB's) otherwise. Runs that began before asked the HTTP check.
		if workflow.GetVersion(ctx, versionDatabaseProtocol, workflow.DefaultVersion, 1) >= 1 {
			var r probe.Result
			err := workflow.ExecuteActivity(withSummary(ctx, "database answers — "+in.Stack), p.CheckDatabase,
				probe.DatabaseCheck{Name: "database answers", URL: c.DatabaseURL}).Get(ctx, &r)
			add(CheckResult{Name: "database answers", Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
		} else {
			checkHTTP("database answers", probe.HTTPCheck{Name: "database answers", URL: c.DatabaseURL})
		}
	}
	if c.FunctionalURL != "" {
		checkHTTP("market data endpoint", probe.HTTPCheck{Name: "market data endpoint", URL: c.FunctionalURL, JSONArray: true})
	}
	if c.DatabaseURL != "" && c.DataQuery != "" {
		var r probe.Result
		err := workflow.ExecuteActivity(withSummary(ctx, "data integrity — "+in.Stack), p.CheckData,
			probe.DataCheck{Name: "data integrity", URL: c.DatabaseURL, Query: c.DataQuery}).Get(ctx, &r)
		add(CheckResult{Name: "data integrity", Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
	}
	// Checks added after the first release run only for stacks configured with them, which
	// rollbacks of that release never were: their histories replay unchanged.
	for volume, want := range sortedMap(in.Fingerprints) {
		if c.DatabaseURL == "" || c.FingerprintQuery == "" {
			break
		}
		var r probe.Result
		name := "data is the backup's (" + volume + ")"
		err := workflow.ExecuteActivity(withSummary(ctx, name+" — "+in.Stack), p.CheckData,
			probe.DataCheck{Name: name, URL: c.DatabaseURL, Query: c.FingerprintQuery, Want: want}).Get(ctx, &r)
		add(CheckResult{Name: name, Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
	}
	if limit := c.MaxMemoryBytes(); limit > 0 || c.MaxCPUPercent > 0 {
		var r docker.ResourcesResult
		err := workflow.ExecuteActivity(withSummary(ctx, "resource usage — "+in.Stack), d.CheckResources,
			docker.ResourcesCheck{Project: in.Project, MaxMemory: limit, MaxCPUPercent: c.MaxCPUPercent}).Get(ctx, &r)
		add(CheckResult{Name: "resource usage", Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
	}
	if len(c.LogsMustHave)+len(c.LogsMustLack) > 0 {
		var r docker.LogsResult
		err := workflow.ExecuteActivity(withSummary(ctx, "log patterns — "+in.Stack), d.CheckLogs,
			docker.LogsCheck{Project: in.Project, MustHave: c.LogsMustHave, MustLack: c.LogsMustLack}).Get(ctx, &r)
		add(CheckResult{Name: "log patterns", Passed: err == nil && r.Passed, Evidence: evidenceOf(r.Evidence, err)})
	}
	report.Passed = true
	for _, r := range report.Checks {
		report.Passed = report.Passed && r.Passed
	}
	return report, nil
}

// sortedMap ranges over m in the order of its keys, so a workflow's commands never depend
// on Go's random map order.
func sortedMap(m map[string]string) func(yield func(string, string) bool) {
	return func(yield func(string, string) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

func withSummary(ctx workflow.Context, summary string) workflow.Context {
	o := workflow.GetActivityOptions(ctx)
	o.Summary = summary
	return workflow.WithActivityOptions(ctx, o)
}

func evidenceOf(evidence string, err error) string {
	if err != nil {
		return strings.TrimSpace(evidence + " " + err.Error())
	}
	return evidence
}
