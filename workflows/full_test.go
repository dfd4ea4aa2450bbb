package workflows

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/backup"
	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/evidence"
	"github.com/algotrendy/rewind/activities/notify"
	"github.com/algotrendy/rewind/activities/probe"
)

const testRunID = "default-test-run-id"

func fullRequest(severity, requester string) Request {
	rules := map[string]Rule{
		"P1": {Role: "on-call"},
		"P2": {Role: "senior", DecisionTime: 15 * time.Minute, HardDeadline: time.Hour},
		"P3": {Role: "tech-lead", DecisionTime: time.Hour, HardDeadline: 4 * time.Hour},
	}
	return Request{
		Stack: "prod", Option: OptionFull, Severity: severity, Reason: "market_data corrupted", Requester: requester,
		Target: Target{
			Project: "algotrendy_v26", ComposeFiles: []string{"docker-compose.prod.yml"}, Volumes: []string{"algotrendy_v26_questdb_data"},
			StopGrace: 30 * time.Second,
			Backups:   Backups{Location: backup.Location{Dir: "/backups"}, Pattern: "questdb_backup_*.tar.gz"},
			Checks:    Checks{HealthURL: "http://localhost:5002/health", HealthTimeout: 5 * time.Minute},
		},
		HostQueue: HostTaskQueue("rewind", "docker-1"),
		Policy: Policy{
			Rule:       rules[severity],
			Escalation: []string{"on-call", "senior", "tech-lead", "engineering-manager"},
			Approvers: []Approver{
				{Name: "alice", Role: "on-call"}, {Name: "bob", Role: "senior"}, {Name: "carol", Role: "tech-lead"},
			},
		},
	}
}

// fullEnv mocks every step of the full rollback with the answers of a healthy run and
// records the order in which steps ran.
type fullEnv struct {
	*testsuite.TestWorkflowEnvironment
	calls   []string
	report  VerifyReport
	created []docker.VolumeInfo
}

func (f *fullEnv) record(name string) { f.calls = append(f.calls, name) }

func (f *fullEnv) ran(name string) bool {
	for _, c := range f.calls {
		if c == name {
			return true
		}
	}
	return false
}

func newFullEnv(t *testing.T) *fullEnv {
	var s testsuite.WorkflowTestSuite
	env := &fullEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(),
		report: VerifyReport{Passed: true, Checks: []CheckResult{{Name: "data integrity", Passed: true, Evidence: "SELECT COUNT(*) FROM market_data → 500"}}}}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID("prod")})
	env.RegisterWorkflow(Full)
	env.RegisterWorkflow(Verify)
	for _, a := range []any{&docker.Activities{}, &evidence.Activities{}, &notify.Activities{}, &backup.Activities{}, &probe.Activities{}} {
		env.RegisterActivity(a)
	}
	var d *docker.Activities
	var e *evidence.Activities
	var n *notify.Activities
	var b *backup.Activities
	proof := docker.SnapshotProof{Volume: "algotrendy_v26_questdb_data", Location: "incidents/x/failed.tar.gz", Path: "/evidence/failed.tar.gz", SHA256: strings.Repeat("a", 64), Bytes: 10}
	env.OnActivity(d.CaptureState, mock.Anything, mock.Anything).Return(func(context.Context, docker.CaptureInput) (docker.CaptureResult, error) {
		env.record("capture")
		return docker.CaptureResult{Files: []string{"ps.txt"}}, nil
	})
	env.OnActivity(b.ListBackups, mock.Anything, mock.Anything).Return([]backup.Object{{Name: "questdb_backup_20251019_020000.tar.gz"}}, nil)
	env.OnActivity(e.Note, mock.Anything, mock.Anything).Return(func(_ context.Context, in evidence.NoteInput) (string, error) {
		return "/evidence/" + in.Name, nil
	})
	env.OnActivity(n.Send, mock.Anything, mock.Anything).Return(func(_ context.Context, m notify.Message) (notify.Result, error) {
		env.record("notify: " + m.Subject)
		return notify.Result{}, nil
	})
	env.OnActivity(d.StopProject, mock.Anything, mock.Anything).Return(func(context.Context, docker.StopInput) (docker.StopResult, error) {
		env.record("stop")
		return docker.StopResult{Stopped: []string{"api", "questdb"}}, nil
	})
	env.OnActivity(b.FindLatestGood, mock.Anything, mock.Anything).Return(backup.LatestGood{
		Chosen:  backup.Verified{Name: "questdb_backup_20251019_020000.tar.gz", SHA256: strings.Repeat("b", 64), Sidecar: "match", Entries: 3},
		Skipped: []backup.Skipped{{Name: "questdb_backup_20251020_020000.tar.gz", Reason: "backup questdb_backup_20251020_020000.tar.gz: sha256 is x, its sidecar says y"}},
	}, nil)
	env.OnActivity(d.InspectVolume, mock.Anything, mock.Anything).Return(docker.VolumeInfo{Name: "algotrendy_v26_questdb_data", Exists: true, Labels: map[string]string{"com.docker.compose.project": "algotrendy_v26"}}, nil)
	env.OnActivity(d.SnapshotVolume, mock.Anything, mock.Anything).Return(func(context.Context, docker.SnapshotInput) (docker.SnapshotProof, error) {
		env.record("snapshot")
		return proof, nil
	})
	env.OnActivity(b.DownloadBackup, mock.Anything, mock.Anything).Return(backup.Downloaded{Path: "/backups/questdb_backup_20251019_020000.tar.gz"}, nil)
	env.OnActivity(d.RemoveVolume, mock.Anything, docker.RemoveVolumeInput{Volume: "algotrendy_v26_questdb_data", Snapshot: proof}).
		Return(func(context.Context, docker.RemoveVolumeInput) (docker.RemoveVolumeResult, error) {
			env.record("remove volume")
			return docker.RemoveVolumeResult{Removed: true}, nil
		})
	env.OnActivity(d.CreateVolume, mock.Anything, mock.Anything).Return(func(_ context.Context, v docker.VolumeInfo) (docker.VolumeInfo, error) {
		env.record("create volume")
		env.created = append(env.created, v)
		return v, nil
	})
	env.OnActivity(d.ComposeUp, mock.Anything, mock.Anything).Return(func(context.Context, docker.ComposeUpInput) (docker.ComposeUpResult, error) {
		env.record("compose up")
		return docker.ComposeUpResult{Command: []string{"docker-compose", "up", "-d"}}, nil
	})
	env.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(docker.WaitHealthyResult{Services: map[string]string{"api": "healthy"}}, nil)
	env.OnWorkflow(Verify, mock.Anything, mock.Anything).Return(func(workflow.Context, VerifyRequest) (VerifyReport, error) {
		env.record("verify")
		return env.report, nil
	})
	return env
}

func (f *fullEnv) restoreReturns(after time.Duration) {
	var d *docker.Activities
	f.OnActivity(d.RestoreVolume, mock.Anything, mock.MatchedBy(func(in docker.RestoreInput) bool { return in.Backup != "/evidence/failed.tar.gz" })).
		After(after).Return(func(context.Context, docker.RestoreInput) (docker.RestoreResult, error) {
		f.record("restore backup")
		return docker.RestoreResult{Entries: 3, Bytes: 100}, nil
	})
	f.OnActivity(d.RestoreVolume, mock.Anything, mock.MatchedBy(func(in docker.RestoreInput) bool { return in.Backup == "/evidence/failed.tar.gz" })).
		Return(func(context.Context, docker.RestoreInput) (docker.RestoreResult, error) {
			f.record("restore snapshot")
			return docker.RestoreResult{Entries: 3}, nil
		})
}

func (f *fullEnv) decide(after time.Duration, d Decision) {
	f.RegisterDelayedCallback(func() { f.SignalWorkflow(ApprovalSignal, d) }, after)
}

func (f *fullEnv) progress(t *testing.T) Progress {
	q, err := f.QueryWorkflow(ProgressQuery)
	require.NoError(t, err)
	var p Progress
	require.NoError(t, q.Get(&p))
	return p
}

func errorType(t *testing.T, err error) string {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	return appErr.Type()
}

func TestFullRestoresAfterASeniorApprovesAndKeepsTheOrderOfTheRunbook(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.decide(5*time.Minute, Decision{Approver: "bob", Approve: true})

	env.ExecuteWorkflow(Full, fullRequest("P2", "alice"))

	require.NoError(t, env.GetWorkflowError())
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, []string{"capture", "stop", "snapshot", "remove volume", "create volume", "restore backup", "compose up", "verify"}, env.calls)
	require.Equal(t, "completed", res.Outcome)
	require.Contains(t, res.Report, "Restored questdb_backup_20251019_020000.tar.gz")
	require.Contains(t, res.Report, "## Skipped backups")
	require.Contains(t, res.Report, "| data integrity | pass |")
	require.Contains(t, res.Report, "approved by bob (senior)")
	require.Contains(t, res.Report, "## Root cause analysis")
	p := env.progress(t)
	require.Equal(t, "completed", p.Phase)
	for _, s := range p.Steps {
		require.Equal(t, StateDone, s.State, s.Name)
	}
}

func TestApprovalRefusesWhoMayNotApproveAndKeepsWaiting(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	req := fullRequest("P2", "alice")
	req.Policy.Approvers = append(req.Policy.Approvers, Approver{Name: "erin", Role: "senior", PublicKey: base64.StdEncoding.EncodeToString(pub)})
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forged := base64.StdEncoding.EncodeToString(ed25519.Sign(otherKey, SignedText(WorkflowID("prod"), testRunID, true)))
	signed := base64.StdEncoding.EncodeToString(ed25519.Sign(priv, SignedText(WorkflowID("prod"), testRunID, true)))

	env := newFullEnv(t)
	env.restoreReturns(0)
	env.decide(1*time.Minute, Decision{Approver: "alice", Approve: true})
	env.decide(2*time.Minute, Decision{Approver: "mallory", Approve: true})
	env.decide(3*time.Minute, Decision{Approver: "erin", Approve: true, Signature: forged})
	env.decide(4*time.Minute, Decision{Approver: "erin", Approve: true, Signature: signed})

	env.ExecuteWorkflow(Full, req)

	require.NoError(t, env.GetWorkflowError())
	var got []string
	for _, d := range env.progress(t).Decisions {
		got = append(got, d.Reason)
	}
	require.Equal(t, []string{
		"alice asked for this rollback and cannot approve it too",
		"mallory is not an approver of this rollback",
		"erin's signature does not verify with their key",
		"approved by erin (senior)",
	}, got)
}

func TestApprovalNeedsTheSeveritysRole(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.decide(time.Minute, Decision{Approver: "bob", Approve: true})
	env.decide(2*time.Minute, Decision{Approver: "carol", Approve: true})

	env.ExecuteWorkflow(Full, fullRequest("P3", "alice"))

	require.NoError(t, env.GetWorkflowError())
	d := env.progress(t).Decisions
	require.Len(t, d, 2)
	require.False(t, d[0].Accepted)
	require.Equal(t, "bob is senior; this severity needs tech-lead or above", d[0].Reason)
	require.True(t, d[1].Accepted)
}

func TestRejectionEndsTheRollbackWithoutTouchingAnything(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.decide(time.Minute, Decision{Approver: "bob", Approve: false, Reason: "the backup is a day old"})

	env.ExecuteWorkflow(Full, fullRequest("P2", "alice"))

	err := env.GetWorkflowError()
	require.Equal(t, ErrRejected, errorType(t, err))
	require.Contains(t, err.Error(), "rejected by bob (senior): the backup is a day old; nothing was changed")
	require.False(t, env.ran("stop"), "a rejected rollback stops nothing")
}

func TestNoDecisionEscalatesAtTheDecisionTimeAndGivesUpAtTheHardDeadline(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)

	env.ExecuteWorkflow(Full, fullRequest("P2", "alice"))

	err := env.GetWorkflowError()
	require.Equal(t, ErrNoDecision, errorType(t, err))
	require.Contains(t, err.Error(), "no approval within the hard deadline of 1h0m0s; nothing was changed")
	require.True(t, env.ran("notify: Rewind: P2 rollback of prod needs a decision"))
	p := env.progress(t)
	d := p.Decisions
	require.Contains(t, d[len(d)-1].Reason, "no decision from a senior within 15m0s; escalated to tech-lead")
	require.Equal(t, 15*time.Minute, d[len(d)-1].At.Sub(p.Steps[1].Started), "escalated at the decision time")
	require.False(t, env.ran("stop"))
}

func TestP1RequesterMustBeOnCallOrAbove(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.ExecuteWorkflow(Full, fullRequest("P1", "mallory"))
	err := env.GetWorkflowError()
	require.Equal(t, ErrNotAuthorized, errorType(t, err))
	require.Contains(t, err.Error(), "mallory may not start a P1 rollback: it needs on-call or above")
	require.False(t, env.ran("stop"))
}

func TestFailedVerificationFailsTheRollbackNamingTheCheck(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.report = VerifyReport{Checks: []CheckResult{
		{Name: "data integrity", Passed: false, Evidence: "SELECT COUNT(*) FROM market_data → 0"},
	}}
	env.ExecuteWorkflow(Full, fullRequest("P1", "alice"))
	err := env.GetWorkflowError()
	require.Equal(t, ErrVerificationFailed, errorType(t, err))
	require.Contains(t, err.Error(), "data integrity (SELECT COUNT(*) FROM market_data → 0)")
}

func TestCancelledAfterTheVolumeWasReplacedPutsTheOldDataBack(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(time.Hour)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)

	env.ExecuteWorkflow(Full, fullRequest("P1", "alice"))

	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()))
	require.Equal(t, []string{"capture", "stop", "snapshot", "remove volume", "create volume", "remove volume", "create volume", "restore snapshot", "compose up"}, env.calls,
		"the half-restored volume is emptied, the damaged volume's data comes back from its forensic snapshot and the stack starts again")
	require.Equal(t, env.created[0], env.created[1], "the put-back volume gets the recorded driver and labels, so compose adopts it")
	require.Equal(t, "algotrendy_v26", env.created[1].Labels["com.docker.compose.project"])
}

func TestCancelledBeforeAnyChangeRestartsNothing(t *testing.T) {
	env := newFullEnv(t)
	env.restoreReturns(0)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(Full, fullRequest("P2", "alice"))
	require.True(t, temporal.IsCanceledError(env.GetWorkflowError()))
	require.Equal(t, []string{"capture"}, env.calls)
}
