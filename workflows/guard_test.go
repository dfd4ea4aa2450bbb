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
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/config"
)

func TestLeakRateSeesALeakNotASpikeNorAStep(t *testing.T) {
	at := func(i int) time.Time { return time.Date(2026, 11, 26, 3, 0, i*10, 0, time.UTC) }
	series := func(mib ...int64) []MemoryPoint {
		var ps []MemoryPoint
		for i, m := range mib {
			ps = append(ps, MemoryPoint{At: at(i), Bytes: m << 20})
		}
		return ps
	}
	require.InDelta(t, 60, leakRate(series(100, 110, 120, 130, 140, 150)), 0.01, "10 MiB every 10 s is 60 MiB a minute")
	require.InDelta(t, 60, leakRate(series(100, 110, 108, 130, 140, 150)), 8, "a leak may dip once")
	require.Zero(t, leakRate(series(100, 101, 102, 103, 104, 105)), "a heap breathing a few MiB is not a leak")
	require.Zero(t, leakRate(series(100, 101, 102, 103, 104, 180)), "one step up at the end is not a leak")
	require.Zero(t, leakRate(series(100, 100, 228, 101, 100, 100)), "one spike is not a leak")
	require.Zero(t, leakRate(series(100, 100, 180, 180, 180, 180)), "a step up that stays flat is not a leak")
	require.Zero(t, leakRate(series(100, 110, 120, 130, 140, 60)), "memory that fell back is not leaking now")
}

// guardRig runs a guard with the real policy activity and the samples a test scripts; the
// rollback it starts is a named stand-in that records its request.
type guardRig struct {
	*testsuite.TestWorkflowEnvironment
	mu sync.Mutex
	// samples counts the looks at the containers, looks those at the API (they run
	// side by side).
	samples, looks int
	started        []Request
	script         func(n int) (docker.ContainerSample, probe.APISample)
}

func newGuardRig(t *testing.T, guardEntry string, script func(n int) (docker.ContainerSample, probe.APISample)) *guardRig {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    working_dir: /srv/algotrendy
    host: docker-1
    volumes: [db_data]
    backups: {dir: /backups}
    checks: {health_url: "http://localhost:5002/health", functional_url: "http://localhost:5002/api/x", database_url: "http://localhost:9000", data_query: "SELECT COUNT(*) FROM market_data"}
    guard: {interval: 15s, window: 2m, option: quick}
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior}
`+guardEntry), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	r := &guardRig{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), script: script}
	r.RegisterWorkflow(Guard)
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, req Request) (Result, error) {
		r.mu.Lock()
		r.started = append(r.started, req)
		r.mu.Unlock()
		return Result{}, nil
	}, workflow.RegisterOptions{Name: "Quick"}) // stand-in for the rollback the guard starts
	r.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1"})
	for _, a := range []any{&docker.Activities{}, &probe.Activities{}, &evidence.Activities{}, &notify.Activities{}} {
		r.RegisterActivity(a)
	}
	var d *docker.Activities
	var p *probe.Activities
	var e *evidence.Activities
	var n *notify.Activities
	r.OnActivity(d.SampleContainers, mock.Anything, mock.Anything).Return(func(context.Context, docker.SampleInput) (docker.ContainerSample, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.samples++
		c, _ := r.script(r.samples)
		return c, nil
	})
	r.OnActivity(p.SampleAPI, mock.Anything, mock.Anything).Return(func(context.Context, probe.APISampleInput) (probe.APISample, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.looks++
		_, a := r.script(r.looks)
		return a, nil
	})
	r.OnActivity(e.Note, mock.Anything, mock.Anything).Return("evidence/guard-samples.json", nil)
	r.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(notify.Result{}, nil)
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: GuardWorkflowID("prod")})
	return r
}

const guardEntry = "  - {name: rewind-guard, role: on-call}\n"

func healthy(int) (docker.ContainerSample, probe.APISample) {
	return docker.ContainerSample{Total: 2, Memory: 100 << 20}, probe.APISample{HealthOK: true, Requests: 5, Latency: 10 * time.Millisecond, DataOK: true}
}

func guardRequest() GuardRequest {
	return GuardRequest{Stack: "prod", Requester: "alice", Version: "v2.6", RequestedAt: time.Now()}
}

func TestGuardStartsAP1RollbackWhenTheAPIAnswers500s(t *testing.T) {
	r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n >= 3 {
			a.Errors = 5 // every request answered 500
		}
		return c, a
	})
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, 3, r.samples, "it acted on the first sample that saw the 500s")
	require.Len(t, r.started, 1)
	got := r.started[0]
	require.Equal(t, "P1", got.Severity)
	require.Equal(t, "rewind-guard", got.Requester)
	require.Equal(t, OptionQuick, got.Option)
	require.Contains(t, got.Reason, "error_ratio 100% over the limit of 80% (critical) at ")
	require.Contains(t, got.Reason, "samples: evidence/guard-samples.json")
	require.Contains(t, res.Outcome, "started a P1 quick rollback (rewind-prod run ")
}

func TestGuardProposesAP2RollbackWhenLatencyDoublesAgainstTheBaseline(t *testing.T) {
	r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		switch {
		case n == 4:
			a.Latency = 60 * time.Millisecond // six times a 10 ms baseline, but under the floor's 1.5×
		case n > 4:
			a.Latency = 125 * time.Millisecond
		}
		return c, a
	})
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	require.Len(t, r.started, 1)
	require.Equal(t, "P2", r.started[0].Severity, "a major finding proposes a rollback for approval")
	require.Contains(t, r.started[0].Reason, "latency_ratio 2.50× over the limit of 1.50× (major)")
	require.Equal(t, 5, r.samples)
}

func TestGuardOfAHealthyDeployEndsQuietlyAtTheWindow(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Empty(t, r.started)
	require.Equal(t, 8, r.samples, "every 15 s for 2 minutes")
	require.Equal(t, "quiet: 8 samples over 2m0s found nothing to act on", res.Outcome)
}

func TestGuardRecognisesALeakButNotASpike(t *testing.T) {
	spike := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n == 3 {
			c.Memory += 200 << 20
		}
		return c, a
	})
	spike.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, spike.GetWorkflowError())
	require.Empty(t, spike.started, "one spike is not a leak")

	leak := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		c.Memory += int64(n) * 8 << 20 // 8 MiB every 15 s: 32 MiB a minute
		return c, a
	})
	leak.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, leak.GetWorkflowError())
	require.Len(t, leak.started, 1)
	require.Contains(t, leak.started[0].Reason, "memory_growth 32.0 MiB/min over the limit of 10.0 MiB/min (critical)")
	require.Equal(t, memoryPoints, leak.samples, "recognised as soon as there are enough readings")
}

func TestGuardStopsWhenSomeoneRollsBackByHand(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	r.RegisterDelayedCallback(func() { r.SignalWorkflow(RollbackStartedSignal, "alice") }, 40*time.Second)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "stopped: alice started a rollback of prod by hand", res.Outcome)
	require.Empty(t, r.started)
	require.Equal(t, 3, r.samples)
}

func TestGuardNotInThePolicyRefusesToStart(t *testing.T) {
	r := newGuardRig(t, "", healthy)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.ErrorContains(t, r.GetWorkflowError(), `the guard acts as "rewind-guard", who must be in the worker's approvers with the role on-call or above`)
	require.Zero(t, r.samples)
}
