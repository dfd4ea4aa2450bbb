package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/storage"
	"github.com/algotrendy/rewind/workflows/api"
)

func TestLeakRateSeesALeakNotASpikeNorAStep(t *testing.T) {
	at := func(i int) time.Time { return time.Date(2026, 11, 26, 3, 0, i*10, 0, time.UTC) }
	series := func(mib ...int64) []api.MemoryPoint {
		var ps []api.MemoryPoint
		for i, m := range mib {
			ps = append(ps, api.MemoryPoint{At: at(i), Bytes: m << 20})
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
	started        []api.Request
	script         func(n int) (docker.ContainerSample, probe.APISample)
	// since are the Since of each look at the containers; running is what the server says
	// of an execution the guard looks up (default: there is none).
	since   []time.Time
	running func(in policy.ExecutionInput) policy.Execution
	lookups []policy.ExecutionInput
	// rollbackTakes is how long the stand-in rollback runs (waits at its gate, say);
	// evidence the texts the guard stored.
	rollbackTakes time.Duration
	evidence      []string
	// rollbackRuns are the run IDs of the stand-in rollbacks started.
	rollbackRuns []string
	// markers answer for the backups' markers on the host, by name (absent: none).
	markers map[string]backup.MarkerRead
}

func newGuardRig(t *testing.T, guardEntry string, script func(n int) (docker.ContainerSample, probe.APISample)) *guardRig {
	t.Helper()
	return newGuardRigWith(t, "{interval: 15s, window: 2m, option: quick}", guardEntry, script)
}

// newGuardRigWith is newGuardRig with the stack's guard settings as a YAML flow map.
func newGuardRigWith(t *testing.T, guardYAML, guardEntry string, script func(n int) (docker.ContainerSample, probe.APISample)) *guardRig {
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
    guard: `+guardYAML+`
approvers:
  - {name: alice, role: on-call}
  - {name: bob, role: senior}
`+guardEntry), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	r := &guardRig{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), script: script}
	r.RegisterWorkflow(Guard)
	for _, name := range []string{"Quick", "Full"} {
		r.RegisterWorkflowWithOptions(func(ctx workflow.Context, req api.Request) (api.Result, error) {
			r.mu.Lock()
			r.started = append(r.started, req)
			r.rollbackRuns = append(r.rollbackRuns, workflow.GetInfo(ctx).WorkflowExecution.RunID)
			takes := r.rollbackTakes
			r.mu.Unlock()
			if takes > 0 {
				return api.Result{}, workflow.Sleep(ctx, takes)
			}
			return api.Result{}, nil
		}, workflow.RegisterOptions{Name: name}) // stand-in for the rollback the guard starts
	}
	nonces, err := storage.NewFolder(filepath.Join(t.TempDir(), "evidence"))
	require.NoError(t, err)
	r.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1", Nonces: nonces})
	for _, a := range []any{&docker.Activities{}, &probe.Activities{}, &evidence.Activities{}, &notify.Activities{}, &backup.Activities{}} {
		r.RegisterActivity(a)
	}
	var b *backup.Activities
	r.OnActivity(b.ReadMarkers, mock.Anything, mock.Anything).Return(func(_ context.Context, in backup.MarkersInput) ([]backup.MarkerRead, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		var out []backup.MarkerRead
		for _, name := range in.Names {
			m, ok := r.markers[name]
			if !ok {
				m = backup.MarkerRead{Name: name, Problem: "it carries no marker of rewind backup's"}
			}
			out = append(out, m)
		}
		return out, nil
	})
	var d *docker.Activities
	var p *probe.Activities
	var e *evidence.Activities
	var n *notify.Activities
	r.OnActivity(d.SampleContainers, mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.SampleInput) (docker.ContainerSample, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.samples++
		r.since = append(r.since, in.Since)
		c, _ := r.script(r.samples)
		return c, nil
	})
	var pol *policy.Activities
	r.OnActivity(pol.Execution, mock.Anything, mock.Anything).Return(func(_ context.Context, in policy.ExecutionInput) (policy.Execution, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.lookups = append(r.lookups, in)
		if r.running == nil {
			return policy.Execution{}, nil
		}
		return r.running(in), nil
	})
	r.OnActivity(p.SampleAPI, mock.Anything, mock.Anything).Return(func(context.Context, probe.APISampleInput) (probe.APISample, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.looks++
		_, a := r.script(r.looks)
		return a, nil
	})
	r.OnActivity(e.Note, mock.Anything, mock.Anything).Return(func(_ context.Context, in evidence.NoteInput) (string, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.evidence = append(r.evidence, in.Text)
		return "evidence/guard-samples.json", nil
	})
	r.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(notify.Result{}, nil)
	r.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.GuardWorkflowID("prod")})
	return r
}

const guardEntry = "  - {name: rewind-guard, role: on-call}\n"

func healthy(int) (docker.ContainerSample, probe.APISample) {
	return docker.ContainerSample{Total: 2, Memory: 100 << 20}, probe.APISample{HealthOK: true, Requests: 5, Latency: 10 * time.Millisecond, DataOK: true}
}

func guardRequest() api.GuardRequest {
	return api.GuardRequest{Stack: "prod", Requester: "alice", Version: "v2.6", RequestedAt: time.Now()}
}

// TestGuardStartsAP1RollbackWhenThe500sLastTheirWindow: the API answers 500s from the
// third sample on; the critical criterion holds for 30 s (three samples 15 s apart), and
// the guard starts a P1 quick rollback on the fifth, whose reason and evidence show the
// samples that led to it as a series; while it waits, the criterion's line says how far
// along its window it is.
func TestGuardStartsAP1RollbackWhenThe500sLastTheirWindow(t *testing.T) {
	r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n >= 3 {
			a.Errors = 5 // every request answered 500
		}
		return c, a
	})
	var midway string
	r.RegisterDelayedCallback(func() { midway = criterionLine(t, r, "critical: error_ratio above 80% for 30s").Detail }, 50*time.Second)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "2 of 3 samples over the limit, now 100%", midway, "rewind watch shows how far along its window the criterion is")
	require.Equal(t, 5, r.samples, "it acted once the 500s had lasted 30 s: the third sample that saw them")
	require.Len(t, r.started, 1)
	got := r.started[0]
	require.Equal(t, "P1", got.Severity)
	require.Equal(t, "rewind-guard", got.Requester)
	require.Equal(t, api.OptionQuick, got.Option)
	require.Contains(t, got.Reason, "error_ratio 100% over the limit of 80% (critical) for 30s, 3 samples in a row from ")
	require.Contains(t, got.Reason, ": 100%, 100%, 100% at ")
	require.Contains(t, got.Reason, "samples: evidence/guard-samples.json")
	require.Contains(t, res.Outcome, "started a P1 quick rollback (rewind-prod run ")
	require.Len(t, r.evidence, 1)
	var stored struct {
		Fired []struct {
			Measure string
			Above   float64
			For     time.Duration
			Series  []api.Point
		}
	}
	require.NoError(t, json.Unmarshal([]byte(r.evidence[0]), &stored))
	require.NotEmpty(t, stored.Fired)
	require.Equal(t, "error_ratio", stored.Fired[0].Measure)
	require.Equal(t, 0.8, stored.Fired[0].Above, "the limit beside the values")
	require.Equal(t, 30*time.Second, stored.Fired[0].For)
	require.Len(t, stored.Fired[0].Series, 3, "the series that led to the decision, not only the last sample")
}

// criterionLine is a criterion's line of the guard's checklist, as rewind watch shows it.
func criterionLine(t *testing.T, r *guardRig, name string) api.Step {
	t.Helper()
	v, err := r.QueryWorkflow(api.ProgressQuery)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no line %q in %+v", name, p.Steps)
	return api.Step{}
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
	req := guardRequest()
	req.Window = 5 * time.Minute
	r.ExecuteWorkflow(Guard, req)
	require.NoError(t, r.GetWorkflowError())
	require.Len(t, r.started, 1)
	require.Equal(t, "P2", r.started[0].Severity, "a major finding proposes a rollback for approval")
	require.Contains(t, r.started[0].Reason, "latency_ratio 2.50× over the limit of 1.50× (major) for 1m0s, 5 samples in a row")
	require.Equal(t, 9, r.samples, "slow for a minute: five samples 15 s apart")
}

func TestGuardOfAHealthyDeployEndsQuietlyAtTheWindow(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
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

// quickRunning is what the server says of a quick rollback of prod past its admission.
func quickRunning(in policy.ExecutionInput) policy.Execution {
	return policy.Execution{Found: true, RunID: "run-1", Type: "Quick", Queue: in.TaskQueue, Status: "WORKFLOW_EXECUTION_STATUS_RUNNING", Running: true, Ours: true,
		Summary: "quick rollback of prod, P1, by alice: 500s", Phase: stepChecklist}
}

func TestGuardStopsWhenSomeoneRollsBackByHand(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	r.running = quickRunning
	r.RegisterDelayedCallback(func() { r.SignalWorkflow(api.RollbackStartedSignal, "alice") }, 40*time.Second)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, `stopped: a rollback of prod is running (rewind-prod run run-1: quick rollback of prod, P1, by alice: 500s), started by hand; the signal came from "alice"`, res.Outcome)
	require.Empty(t, r.started)
	require.Equal(t, 3, r.samples)
	require.NotEmpty(t, r.lookups)
	require.Equal(t, api.WorkflowID("prod"), r.lookups[0].WorkflowID, "the server was asked about the stack's rollback")
	require.Equal(t, api.ProgressQuery, r.lookups[0].ProgressQuery, "and the rollback about its own progress")
}

// TestGuardGoesOnWhenAStopSignalHasNoRollbackBehindIt: a rollback-started signal is a claim;
// with no rollback of the stack running, or one that is not Rewind's, or one its policy
// never admitted, the guard records it and keeps watching to the end of its window.
func TestGuardGoesOnWhenAStopSignalHasNoRollbackBehindIt(t *testing.T) {
	for name, tc := range map[string]struct {
		running func(policy.ExecutionInput) policy.Execution
		why     string
		samples int
	}{
		"none": {nil, "no rollback rewind-prod exists", 8},
		"ended": {func(in policy.ExecutionInput) policy.Execution {
			e := quickRunning(in)
			e.Running, e.Status = false, "WORKFLOW_EXECUTION_STATUS_FAILED"
			return e
		}, "rewind-prod is failed, not running", 8},
		"someone else": {func(in policy.ExecutionInput) policy.Execution {
			e := quickRunning(in)
			e.Ours, e.Queue = false, "mallory"
			return e
		}, "rewind-prod is a Quick on mallory, not a Rewind rollback", 8},
		// A rollback still being admitted gets 30 s, in which the guard does not look.
		"not admitted": {func(in policy.ExecutionInput) policy.Execution {
			e := quickRunning(in)
			e.Phase = "starting"
			return e
		}, "rewind-prod run run-1 was not admitted by the policy within 30s", 7},
	} {
		t.Run(name, func(t *testing.T) {
			r := newGuardRig(t, guardEntry, healthy)
			r.running = tc.running
			r.RegisterDelayedCallback(func() { r.SignalWorkflow(api.RollbackStartedSignal, "mallory") }, 40*time.Second)
			r.ExecuteWorkflow(Guard, guardRequest())
			require.NoError(t, r.GetWorkflowError())
			var res api.GuardResult
			require.NoError(t, r.GetWorkflowResult(&res))
			require.Equal(t, fmt.Sprintf("quiet: %d samples over 2m0s found nothing to act on", tc.samples), res.Outcome, "the signal did not stop the guard")
			require.Equal(t, tc.samples, r.samples)
			require.Contains(t, guardNotices(t, r), `ignored a rollback-started signal from "mallory": `+tc.why+"; the guard goes on")
		})
	}
}

// guardNotices are the guard's recorded notices and decisions, one a line.
func guardNotices(t *testing.T, r *guardRig) string {
	t.Helper()
	v, err := r.QueryWorkflow(api.ProgressQuery)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	var lines []string
	for _, d := range p.Decisions {
		lines = append(lines, d.Reason)
	}
	return strings.Join(lines, "\n")
}

// forgedLeak is a memory series no sample of this guard took: it climbs 12 MiB every 15 s
// up to the healthy stack's 100 MiB, so one more healthy reading reads as a leak.
func forgedLeak() *api.GuardState {
	st := &api.GuardState{Until: time.Now().Add(time.Hour), Samples: 5, Started: true, DownSince: time.Now().Add(-time.Hour)}
	for i := range 5 {
		st.Memory = append(st.Memory, api.MemoryPoint{At: time.Now().Add(time.Duration(i-5) * 15 * time.Second), Bytes: int64(40+12*i) << 20})
	}
	return st
}

func TestGuardRefusesAFreshStartCarryingState(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	req := guardRequest()
	req.State = forgedLeak()
	r.ExecuteWorkflow(Guard, req)
	err := r.GetWorkflowError()
	require.ErrorContains(t, err, "a guard's state is its own: this start of the guard of prod carries one (5 samples)")
	requireAppError(t, err, failure.BadInput)
	require.Zero(t, r.samples, "nothing was sampled")
	require.Empty(t, r.started, "no rollback started")
}

func TestGuardTakesItsOwnStateWhenItContinuedAsNew(t *testing.T) {
	r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		c.Memory += int64(n) * 12 << 20 // the leak its earlier run saw goes on
		return c, a
	})
	r.SetContinuedExecutionRunID("run-before")
	r.running = func(in policy.ExecutionInput) policy.Execution {
		return policy.Execution{Found: true, RunID: in.RunID, Type: "Guard", Queue: in.TaskQueue, Status: "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW", Ours: true}
	}
	req := guardRequest()
	req.State = forgedLeak()
	req.State.DownSince = time.Time{}
	r.ExecuteWorkflow(Guard, req)
	require.NoError(t, r.GetWorkflowError())
	require.NotEmpty(t, r.lookups, "the run it continued was looked up")
	require.Equal(t, "run-before", r.lookups[0].RunID)
	require.Equal(t, []string{"Guard"}, r.lookups[0].Types)
	require.Len(t, r.started, 1, "its own state counts")
	require.Equal(t, 1, r.samples, "the readings it carried and one more make a leak")
}

func TestGuardRefusesStateFromARunThatWasNotAGuard(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	r.SetContinuedExecutionRunID("mallorys-run")
	r.running = func(in policy.ExecutionInput) policy.Execution {
		return policy.Execution{Found: true, RunID: in.RunID, Type: "Guard", Queue: "mallory", Status: "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW"}
	}
	req := guardRequest()
	req.State = forgedLeak()
	r.ExecuteWorkflow(Guard, req)
	err := r.GetWorkflowError()
	require.ErrorContains(t, err, "this run continued run mallorys-run, which was not a guard on")
	requireAppError(t, err, failure.BadInput)
	require.Zero(t, r.samples)
	require.Empty(t, r.started)
}

func TestGuardRefusesAStarterWithoutAuthority(t *testing.T) {
	for name, tc := range map[string]struct {
		entry, requester, want string
	}{
		"not in the policy": {guardEntry, "mallory", "mallory is not in this worker's policy and may not start rollbacks"},
		"below the P1 role": {guardEntry + "  - {name: intern, role: on-call}\nseverity:\n  levels:\n    P1: {role: senior, decision_time: 0s, hard_deadline: 0s}\n  escalation: [on-call, senior, tech-lead, engineering-manager]\n" +
			"", "intern", "intern may not start a P1 rollback: it needs senior or above"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newGuardRig(t, strings.Replace(tc.entry, "role: on-call}\n", "role: senior}\n", 1), healthy)
			req := guardRequest()
			req.Requester = tc.requester
			r.ExecuteWorkflow(Guard, req)
			err := r.GetWorkflowError()
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "the guard may start a P1 quick rollback of prod, so its starter needs that authority")
			requireAppError(t, err, failure.NotAuthorized)
			require.Zero(t, r.samples, "no sample was taken")
			require.Empty(t, r.started)
			require.Contains(t, guardNotices(t, r), tc.want, "the refusal is on record")
		})
	}
}

func TestGuardsFirstLookReadsOnlyWhatHappenedSinceItBegan(t *testing.T) {
	r := newGuardRig(t, guardEntry, healthy)
	began := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	r.SetStartTime(began)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	require.Equal(t, began, r.since[0].UTC(), "the first look reads the logs from the guard's start, not the last 500 lines")
	for i := 1; i < len(r.since); i++ {
		require.Equal(t, began.Add(time.Duration(i-1)*15*time.Second), r.since[i].UTC(), "each look reads from the one before")
	}
}

func TestGuardNotInThePolicyRefusesToStart(t *testing.T) {
	r := newGuardRig(t, "", healthy)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.ErrorContains(t, r.GetWorkflowError(), `the guard acts as "rewind-guard", who must be in the worker's approvers with the role on-call or above`)
	require.Zero(t, r.samples)
}

// requireAppError asserts the workflow failed with a non-retryable error of type kind.
func requireAppError(t *testing.T, err error, kind string) {
	t.Helper()
	appErr, ok := errors.AsType[*temporal.ApplicationError](err)
	require.True(t, ok, "an application error: %v", err)
	require.Equal(t, kind, appErr.Type())
	require.True(t, appErr.NonRetryable())
}

// TestGuardStartIsSignedWhenItsStarterHasKeys: starting a guard lets it start the stack's
// P1 rollback, so a starter with keys signs for it, for the guard's workflow ID: unsigned,
// or with a statement signed for the rollback itself, the guard is refused before it looks.
func TestGuardStartIsSignedWhenItsStarterHasKeys(t *testing.T) {
	dana := newPerson(t, "dana", "on-call")
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(dana.signer(t).PublicKey())))
	entry := guardEntry + fmt.Sprintf("  - {name: dana, role: on-call, keys: [%q]}\n", pub)
	sign := func(st identity.Statement) api.GuardRequest {
		sig, err := identity.Sign(dana.signer(t), st)
		require.NoError(t, err)
		req := guardRequest()
		req.Requester, req.Statement, req.Signature = "dana", string(st.Text()), sig
		return req
	}
	nonce := func() string {
		n, err := identity.NewNonce()
		require.NoError(t, err)
		return n
	}
	expires := time.Now().Add(api.MaxStartSignedFor).UTC().Truncate(time.Second)
	for name, tc := range map[string]struct {
		req  api.GuardRequest
		want string
	}{
		"unsigned":                               {func() api.GuardRequest { req := guardRequest(); req.Requester = "dana"; return req }(), "dana has keys: sign with ssh-agent or --key"},
		"signed for the rollback, not the guard": {sign(api.StartStatement(api.GuardAuthority("prod", api.OptionQuick, "dana"), api.WorkflowID("prod"), expires, nonce())), `signed for workflow "rewind-prod", this is workflow "rewind-prod-guard"`},
		"signed for the guard":                   {sign(api.GuardStartStatement("prod", api.OptionQuick, "dana", expires, nonce())), ""},
	} {
		t.Run(name, func(t *testing.T) {
			r := newGuardRig(t, entry, healthy)
			r.ExecuteWorkflow(Guard, tc.req)
			if tc.want == "" {
				require.NoError(t, r.GetWorkflowError())
				require.Equal(t, 8, r.samples, "the signed guard watched its window")
				return
			}
			err := r.GetWorkflowError()
			require.ErrorContains(t, err, tc.want)
			requireAppError(t, err, failure.NotAuthorized)
			require.Zero(t, r.samples)
		})
	}
}

// TestGuardCarriesItsOwnStateThroughContinueAsNew: dana, who has keys, starts a guard
// signed; when Temporal suggests it, the guard continues as new with what it learnt and
// without her statement (used once); the next run, continued from a guard, is admitted
// without one and goes on from the samples it carried.
func TestGuardCarriesItsOwnStateThroughContinueAsNew(t *testing.T) {
	dana := newPerson(t, "dana", "on-call")
	pub := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(dana.signer(t).PublicKey())))
	entry := guardEntry + fmt.Sprintf("  - {name: dana, role: on-call, keys: [%q]}\n", pub)
	nonce, err := identity.NewNonce()
	require.NoError(t, err)
	st := api.GuardStartStatement("prod", api.OptionQuick, "dana", time.Now().Add(api.MaxStartSignedFor).UTC().Truncate(time.Second), nonce)
	sig, err := identity.Sign(dana.signer(t), st)
	require.NoError(t, err)
	req := guardRequest()
	req.Requester, req.Statement, req.Signature = "dana", string(st.Text()), sig

	began := time.Now().UTC().Truncate(time.Second)
	first := newGuardRig(t, entry, healthy)
	first.SetStartTime(began)
	first.RegisterDelayedCallback(func() { first.SetContinueAsNewSuggested(true) }, 20*time.Second)
	first.ExecuteWorkflow(Guard, req)
	can, ok := errors.AsType[*workflow.ContinueAsNewError](first.GetWorkflowError())
	require.True(t, ok, "continued as new: %v", first.GetWorkflowError())
	var next api.GuardRequest
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.State)
	require.Equal(t, 2, next.State.Samples, "what it learnt goes on")
	require.Empty(t, next.Statement+next.Signature, "a signed start is used once")

	second := newGuardRig(t, entry, healthy)
	second.SetStartTime(began.Add(30 * time.Second)) // when the first run's third look was due
	second.SetContinuedExecutionRunID("run-before")
	second.running = func(in policy.ExecutionInput) policy.Execution {
		return policy.Execution{Found: true, RunID: in.RunID, Type: "Guard", Queue: in.TaskQueue, Status: "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW", Ours: true}
	}
	second.ExecuteWorkflow(Guard, next)
	require.NoError(t, second.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, second.GetWorkflowResult(&res))
	require.Equal(t, "quiet: 8 samples over 2m0s found nothing to act on", res.Outcome, "two samples carried, six more to the end of the window")
}

// TestRecordedGuardHistoriesReplay replays guards recorded by the integration suite
// (testdata/guard; v0 by the release before the guard checked its starter, its state and
// stop signals) against today's code: those checks are behind workflow.GetVersion, so a
// guard in flight when the worker is upgraded goes on as it began.
func TestRecordedGuardHistoriesReplay(t *testing.T) {
	replayRecorded(t, "testdata/guard/*.json", api.GuardWorkflowID("demo"), Guard)
}

// TestGuardDoesNothingOnABlip: conditions that do not last start nothing: a 4 s burst of
// 500s (one sample sees it), a single slow sample, a container restarting once (down, its
// health check failing and the API not answering for one sample), a memory spike. The
// guard ends quietly, and every criterion's line says where it stood.
func TestGuardDoesNothingOnABlip(t *testing.T) {
	for name, blip := range map[string]func(n int, c *docker.ContainerSample, a *probe.APISample){
		"a 4 s burst of 500s": func(n int, _ *docker.ContainerSample, a *probe.APISample) {
			if n == 4 {
				a.Errors = 5
			}
		},
		"a single slow sample": func(n int, _ *docker.ContainerSample, a *probe.APISample) {
			if n == 5 {
				a.Latency = 125 * time.Millisecond
			}
		},
		"a container restarting once": func(n int, c *docker.ContainerSample, a *probe.APISample) {
			if n >= 4 {
				c.Restarts = 1
			}
			if n == 4 {
				c.Down = []string{"api"}
				a.HealthOK, a.DataOK, a.Errors = false, false, 5
			}
		},
		"a memory spike": func(n int, c *docker.ContainerSample, _ *probe.APISample) {
			if n == 3 {
				c.Memory += 200 << 20
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
				c, a := healthy(n)
				blip(n, &c, &a)
				return c, a
			})
			r.ExecuteWorkflow(Guard, guardRequest())
			require.NoError(t, r.GetWorkflowError())
			var res api.GuardResult
			require.NoError(t, r.GetWorkflowResult(&res))
			require.Empty(t, r.started, "no rollback on a blip")
			require.True(t, strings.HasPrefix(res.Outcome, "quiet: 8 samples over 2m0s found nothing to act on"), res.Outcome)
			require.Equal(t, 8, r.samples, "it watched its whole window")
			require.NotContains(t, guardNotices(t, r), "critical")
			require.NotContains(t, guardNotices(t, r), "major")
		})
	}
}

// TestGuardProposesAFullRollbackAtP2: with guard.option full, a critical finding that
// lasts proposes the restore at P2, where it waits for an approver; the guard never starts
// a restore at P1 on its own word, unless the stack says so in so many words.
func TestGuardProposesAFullRollbackAtP2(t *testing.T) {
	fiveHundreds := func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n >= 3 {
			a.Errors = 5
		}
		return c, a
	}
	r := newGuardRigWith(t, "{interval: 15s, window: 2m, option: full}", guardEntry, fiveHundreds)
	r.rollbackTakes = time.Hour // waits at its gate
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Len(t, r.started, 1)
	require.Equal(t, api.OptionFull, r.started[0].Option)
	require.Equal(t, "P2", r.started[0].Severity, "a restore waits for an approver")
	require.Contains(t, res.Outcome, "proposed a P2 full rollback (rewind-prod run ")
	require.Contains(t, res.Outcome, "waiting for an approver: restoring a backup over the stack's data is never automatic on the guard's word (guard.restore_without_approval is off): error_ratio 100% over the limit of 80% (critical)")
	require.Contains(t, res.Outcome, "held to the end of the window", "the proposal still waits; the guard acted once")

	require.Empty(t, r.started[0].Backup, "no deploy backup: the rollback picks the newest good one")

	said := newGuardRigWith(t, "{interval: 15s, window: 2m, option: full, restore_without_approval: true}", guardEntry, fiveHundreds)
	deployed := guardRequest()
	deployed.Backups = []string{"questdb_backup_20261203_141500.tar.gz"}
	said.markers = map[string]backup.MarkerRead{deployed.Backups[0]: deployMarker(deployed.Backups[0], said.Now().Add(-3*time.Minute))}
	said.ExecuteWorkflow(Guard, deployed)
	require.NoError(t, said.GetWorkflowError())
	require.Len(t, said.started, 1)
	require.Equal(t, "P1", said.started[0].Severity, "the stack's config said so in so many words")
	require.Equal(t, "questdb_backup_20261203_141500.tar.gz", said.started[0].Backup, "the backup rewind deployed took before the deploy is the one restored")
	require.Contains(t, said.started[0].Reason, "backup taken before the deploy: questdb_backup_20261203_141500.tar.gz")
}

// deployMarker is the marker rewind deployed's backup of prod v2.6 carries, taken at at.
func deployMarker(name string, at time.Time) backup.MarkerRead {
	return backup.MarkerRead{Name: name, Marker: backups.Marker{Name: name, SHA256: "ab12", Workflow: api.BackupWorkflowID("prod"), Run: "r1",
		Reason: backups.DeployReason("v2.6"), At: at}}
}

// TestGuardPinsNoBackupItsStartNamesWithoutProof: GuardRequest.Backups is start input
// anyone who may start a workflow writes. With restore_without_approval a pinned backup
// would be restored at P1, skipping failed drills; so a name whose marker does not show
// the stack's backup took it for this deploy, shortly before the guard, is not pinned nor
// called the deploy's, and the reason says why.
func TestGuardPinsNoBackupItsStartNamesWithoutProof(t *testing.T) {
	fiveHundreds := func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n >= 3 {
			a.Errors = 5
		}
		return c, a
	}
	const old = "questdb_backup_20250101_020000.tar.gz"
	for _, tc := range []struct {
		name   string
		marker func(now time.Time) (backup.MarkerRead, bool)
		why    string
	}{
		{"no marker", func(time.Time) (backup.MarkerRead, bool) { return backup.MarkerRead{}, false }, "carries no marker"},
		{"an old deploy's backup", func(now time.Time) (backup.MarkerRead, bool) {
			return deployMarker(old, now.Add(-30*24*time.Hour)), true
		}, "more than 1h0m0s before the guard began"},
		{"another reason", func(now time.Time) (backup.MarkerRead, bool) {
			m := deployMarker(old, now.Add(-time.Minute))
			m.Marker.Reason = "nightly"
			return m, true
		}, `its marker's reason is "nightly", not "before deploying v2.6"`},
		{"another workflow", func(now time.Time) (backup.MarkerRead, bool) {
			m := deployMarker(old, now.Add(-time.Minute))
			m.Marker.Workflow = "rewind-staging-backup"
			return m, true
		}, `workflow "rewind-staging-backup" wrote it, not the stack's backup rewind-prod-backup`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newGuardRigWith(t, "{interval: 15s, window: 2m, option: full, restore_without_approval: true}", guardEntry, fiveHundreds)
			if m, ok := tc.marker(r.Now()); ok {
				r.markers = map[string]backup.MarkerRead{old: m}
			}
			forged := guardRequest()
			forged.Backups = []string{old}
			r.ExecuteWorkflow(Guard, forged)
			require.NoError(t, r.GetWorkflowError())
			require.Len(t, r.started, 1)
			require.Empty(t, r.started[0].Backup, "a backup named without proof is not pinned")
			require.NotContains(t, r.started[0].Reason, "backup taken before the deploy")
			require.Contains(t, r.started[0].Reason, "not pinned, as not shown to be this deploy's backup (the rollback picks one by its usual rules): "+old+" (")
			require.Contains(t, r.started[0].Reason, tc.why)
		})
	}
}

// errorsFromTheThirdSample is a healthy stack whose API answers with errors from the
// third sample on.
func errorsFromTheThirdSample(n int) (docker.ContainerSample, probe.APISample) {
	c, a := healthy(n)
	if n >= 3 {
		a.Errors = 5
	}
	return c, a
}

// TestGuardActsOnceThenHolds: the 500s go on after the guard started its rollback; while
// that rollback runs the guard keeps looking and records what counts next, but starts
// nothing more: a person starts the next guard. It ends when its rollback closes, with
// each criterion's final state: the ones that counted failed, the others done.
func TestGuardActsOnceThenHolds(t *testing.T) {
	r := newGuardRig(t, guardEntry, errorsFromTheThirdSample)
	r.rollbackTakes = 40 * time.Second
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Len(t, r.started, 1, "one action, however long the trouble lasts")
	require.Equal(t, 7, r.samples, "it kept looking while its rollback ran")
	require.Contains(t, res.Outcome, "started a P1 quick rollback (rewind-prod run ")
	require.True(t, strings.HasSuffix(res.Outcome, "; the rollback completed"), res.Outcome)
	require.Contains(t, guardNotices(t, r), "error_ratio 100% over the limit of 20% (major) for 1m0s, 5 samples in a row")
	require.Contains(t, guardNotices(t, r), "the guard acted once (rewind-prod/")
	require.Contains(t, guardNotices(t, r), "acts again only when a person starts a new guard")

	v, err := r.QueryWorkflow(api.ProgressQuery)
	require.NoError(t, err)
	var p api.Progress
	require.NoError(t, v.Get(&p))
	states := map[string]string{}
	for _, s := range p.Steps {
		require.NotEqual(t, api.StateRunning, s.State, "an ended guard leaves no criterion running: %s", s.Name)
		states[s.Name] = s.State + ": " + s.Detail
	}
	require.Contains(t, states["critical: error_ratio above 80% for 30s"], "failed: counted: 5 samples in a row over the limit since ")
	require.Contains(t, states["major: error_ratio above 20% for 1m0s"], "failed: counted: ")
	require.Equal(t, "done: within the limit: now 0s", states["critical: down_for above 300s"])
	require.Equal(t, "done: did not hold for its window: 0 of 5 samples over the limit, now 0.20×", states["major: latency_ratio above 1.50× for 1m0s"])
}

// TestGuardThatEndsQuietlyLeavesEachCriterionsFinalState: an ended guard's status shows
// where each criterion stood, none of them "running".
func TestGuardThatEndsQuietlyLeavesEachCriterionsFinalState(t *testing.T) {
	r := newGuardRig(t, guardEntry, func(n int) (docker.ContainerSample, probe.APISample) {
		c, a := healthy(n)
		if n >= 7 {
			a.Errors = 5 // two samples before the window ends
		}
		return c, a
	})
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	require.Empty(t, r.started)
	require.Equal(t, "done: did not hold for its window: 2 of 3 samples over the limit, now 100%", func() string {
		s := criterionLine(t, r, "critical: error_ratio above 80% for 30s")
		return s.State + ": " + s.Detail
	}())
	require.Equal(t, api.StateFailed, criterionLine(t, r, "minor: error_ratio above 0%").State, "the minor one counted, and was recorded")
	require.Equal(t, api.StateDone, criterionLine(t, r, "critical: memory_growth above 10.0 MiB/min").State)
}

// TestGuardHoldingIsNotStoppedByItsOwnRollback: a rollback-started signal while the guard
// holds, with only the rollback it started itself running, is no rollback by hand: the
// guard goes on holding and ends when its rollback closes.
func TestGuardHoldingIsNotStoppedByItsOwnRollback(t *testing.T) {
	r := newGuardRig(t, guardEntry, errorsFromTheThirdSample)
	r.rollbackTakes = 40 * time.Second
	r.running = func(in policy.ExecutionInput) policy.Execution { // called under r.mu
		e := quickRunning(in)
		e.RunID = r.rollbackRuns[0]
		return e
	}
	r.RegisterDelayedCallback(func() { r.SignalWorkflow(api.RollbackStartedSignal, "alice") }, 70*time.Second)
	r.ExecuteWorkflow(Guard, guardRequest())
	require.NoError(t, r.GetWorkflowError())
	var res api.GuardResult
	require.NoError(t, r.GetWorkflowResult(&res))
	require.True(t, strings.HasSuffix(res.Outcome, "; the rollback completed"), res.Outcome)
	require.Contains(t, guardNotices(t, r), "is the rollback this guard started; the guard holds")
	require.Len(t, r.started, 1)
}
