package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/identity"
	"github.com/algotrendy/rewind/workflows/api"
)

func TestFullProvesTheBackupRestoresBeforeTheStackStopsAndKeepsTheRunbooksOrder(t *testing.T) {
	r := newRig(t, rigOptions{})
	var got []string
	r.decide(5*time.Minute, api.Decision{Approver: "bob", Approve: true}, &got)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, []string{"accepted: approved by bob (senior) to restore db_data_2.tar.gz " + sha('2')}, got)
	// The staging restore runs while the gate waits: those two go side by side.
	require.ElementsMatch(t, []string{
		"notify started", "capture", "list newest", "note rollback_reason.txt", "inspect db_data", "notify approval-needed",
		"remove stale staging", "list db_data", "fetch db_data_2.tar.gz", "prepare db_data_2.tar.gz", "room db_data",
	}, r.calls[:r.index("notify decided")])
	require.Less(t, r.index("inspect db_data"), r.index("remove stale staging"))
	require.Less(t, r.index("prepare db_data_2.tar.gz"), r.index("stop"), "the stack stops only once the backup restored whole")
	require.Equal(t, []string{
		"notify decided", "stop", "plan swap db_data", "swap db_data", "start containers", "wait healthy", "verify",
		"snapshot rewind-forensic-defaultt-db_data", "remove volume rewind-forensic-defaultt-db_data",
		"remove staging", "note decisions.json", "note incident_report.md", "notify finished",
	}, r.calls[r.index("notify decided"):], "after approval: a rename, not a copy; the forensic snapshot once the stack is verified")
	require.Equal(t, "completed", res.Outcome)
	require.Equal(t, "restored db_data_2.tar.gz", res.Notice)
	require.Contains(t, res.Report, "| db_data | db_data_2.tar.gz | "+sha('2')+" | x.sha256 | rename | incidents/")
	require.Contains(t, res.Report, "| data integrity | pass |")
	require.Contains(t, res.Report, "approved by bob (senior)")
	require.Contains(t, res.Report, "## Root cause analysis")
	p := r.progress()
	require.Equal(t, "completed", p.Phase)
	for _, s := range p.Steps {
		require.Equal(t, api.StateDone, s.State, s.Name)
	}
}

func TestFullFallsBackToAnOlderBackupWhenTheNewestDoesNotRestoreAndNothingStopsMeanwhile(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["prepare db_data_2.tar.gz"] = temporal.NewNonRetryableApplicationError("backup db_data_2.tar.gz: entry \"v/_data/../../etc\" climbs out", failure.UnsafeEntry, nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "restored db_data_1.tar.gz", res.Notice)
	require.Less(t, r.index("prepare db_data_1.tar.gz"), r.index("stop"), "the stack stops only once a backup restored whole")
	require.Less(t, r.index("remove staging"), r.index("fetch db_data_1.tar.gz"), "the bad backup's staging volume goes first")
	require.Contains(t, res.Report, "## Skipped backups")
	require.Contains(t, res.Report, "climbs out")
}

func TestFullWithNoBackupThatRestoresChangesNothing(t *testing.T) {
	r := newRig(t, rigOptions{})
	bad := temporal.NewNonRetryableApplicationError("damaged halfway", failure.CorruptBackup, nil)
	r.fail["prepare db_data_2.tar.gz"], r.fail["prepare db_data_1.tar.gz"] = bad, bad

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.NoGoodBackup, errorType(t, err))
	require.Contains(t, err.Error(), "no backup of db_data restores: damaged halfway; damaged halfway; 2 backups match backup0_*.tar.gz in /backups; nothing was changed")
	require.False(t, r.ran("stop"))
}

func TestFullPutsTheStackBackWhenAStepFailsAfterTheVolumeWasRemoved(t *testing.T) {
	r := newRig(t, rigOptions{copy: true})
	r.fail["copy into db_data"] = temporal.NewNonRetryableApplicationError("the engine refused the copy", "EngineRefused", nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, "EngineRefused", errorType(t, err))
	require.Contains(t, err.Error(), "the engine refused the copy; put back and healthy: volume db_data from its snapshot, the stack started again; evidence: incidents/")
	tail := r.calls[r.index("copy into db_data")+1:]
	require.Equal(t, []string{
		"remove volume db_data", "create volume db_data", "restore db_data from failed_deployment_db_data.tar.gz", "compose up", "wait healthy",
		"notify failed", "remove staging",
	}, tail, "the damaged data comes back from this run's snapshot, then the stack starts as it was and is waited on")
	require.Equal(t, r.created[0], r.created[1], "the put-back volume gets the recorded driver and labels, so compose adopts it")
	require.Equal(t, "failed", r.progress().Phase)
}

func TestFullFailedVerificationPutsTheDamagedDataBackNamingTheCheck(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.report = VerifyReport{Checks: []CheckResult{{Name: "data integrity", Passed: false, Evidence: "SELECT COUNT(*) FROM market_data → 0"}}}

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.VerificationFailed, errorType(t, err))
	require.Contains(t, err.Error(), "data integrity (SELECT COUNT(*) FROM market_data → 0)")
	require.Contains(t, err.Error(), "put back and healthy: what it started stopped, volume db_data back in place, the stack started again")
	require.Equal(t, []string{"stop", "unswap db_data", "compose up", "wait healthy", "notify failed", "remove staging"}, r.calls[r.index("verify")+1:],
		"the restored stack stops before the damaged data is renamed back under it; the stack starts as it was, is waited on, and no forensic volume is freed")
}

// TestAPutBackAfterTheStartStopsTheStackFirst: a failure anywhere past the start (the start
// itself, the health wait, the verification) stops what the start started before any
// volume is renamed back, then starts the stack as it was and waits on it.
func TestAPutBackAfterTheStartStopsTheStackFirst(t *testing.T) {
	for _, tc := range []struct {
		failing string
		err     error
	}{
		{"start containers", temporal.NewNonRetryableApplicationError("port is already allocated", "EngineRefused", nil)},
		{"compose up", temporal.NewNonRetryableApplicationError("port is already allocated", "ComposeFailed", nil)},
		{"wait healthy", temporal.NewNonRetryableApplicationError("project algotrendy_v26 not healthy after 5m0s", failure.NotHealthy, nil)},
		{"verify", temporal.NewNonRetryableApplicationError("the child died", "ChildFailed", nil)},
	} {
		for _, copyIn := range []bool{false, true} {
			// After a rename the engine starts the containers; a copy-in removed them, and
			// compose up makes them again.
			if start := map[bool]string{false: "start containers", true: "compose up"}[copyIn]; (tc.failing == "start containers" || tc.failing == "compose up") && tc.failing != start {
				continue
			}
			t.Run(fmt.Sprintf("%s copy=%t", tc.failing, copyIn), func(t *testing.T) {
				var d *docker.Activities
				failed := false
				r := newRig(t, rigOptions{copy: copyIn, first: func(r *rig) {
					// The step fails once: the put-back's own compose up and wait succeed.
					fail := func(name string) error {
						r.mu.Lock()
						defer r.mu.Unlock()
						r.calls = append(r.calls, name)
						if name == tc.failing && !failed {
							failed = true
							return tc.err
						}
						return nil
					}
					switch tc.failing {
					case "start containers":
						r.OnActivity(d.StartProject, mock.Anything, mock.Anything).Return(func(context.Context, docker.ComposeUpInput) (docker.StartResult, error) {
							return docker.StartResult{}, fail("start containers")
						})
					case "compose up":
						r.OnActivity(d.ComposeUp, mock.Anything, mock.Anything).Return(func(context.Context, docker.ComposeUpInput) (docker.ComposeUpResult, error) {
							return docker.ComposeUpResult{}, fail("compose up")
						})
					case "wait healthy":
						r.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(func(context.Context, docker.WaitHealthyInput) (docker.WaitHealthyResult, error) {
							return docker.WaitHealthyResult{}, fail("wait healthy")
						})
					}
				}})
				if tc.failing == "verify" {
					r.fail["verify"] = tc.err
				}

				r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

				err := r.GetWorkflowError()
				require.Error(t, err)
				tail := r.calls[r.index(tc.failing)+1:]
				putBack := []string{"stop", "unswap db_data", "compose up", "wait healthy", "notify failed", "remove staging"}
				undone := "volume db_data back in place"
				if copyIn {
					putBack = []string{"stop", "remove volume db_data", "create volume db_data", "restore db_data from failed_deployment_db_data.tar.gz", "compose up", "wait healthy", "notify failed", "remove staging"}
					undone = "volume db_data from its snapshot"
				}
				require.Equal(t, putBack, tail, "the stack stops before its data goes back, then starts as it was and is waited on")
				require.Contains(t, err.Error(), "put back and healthy: what it started stopped, "+undone+", the stack started again")
			})
		}
	}
}

// TestAPutBackSaysWhenTheStackIsNotHealthyAfterIt: the record says what is true.
func TestAPutBackSaysWhenTheStackIsNotHealthyAfterIt(t *testing.T) {
	var d *docker.Activities
	r := newRig(t, rigOptions{first: func(r *rig) {
		r.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(func(context.Context, docker.WaitHealthyInput) (docker.WaitHealthyResult, error) {
			return docker.WaitHealthyResult{}, temporal.NewNonRetryableApplicationError("project algotrendy_v26 not healthy after 5m0s: still waiting for api (unhealthy)", failure.NotHealthy, nil)
		})
	}})

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.NotHealthy, errorType(t, err))
	require.Contains(t, err.Error(), "put back: what it started stopped, volume db_data back in place, the stack started again; not healthy: project algotrendy_v26 not healthy after 5m0s: still waiting for api (unhealthy); evidence: ")
	require.NotContains(t, err.Error(), "put back and healthy")
}

// TestAPutBackThatCannotStopTheStackLeavesTheDataWhereTheServerRuns: the rename back is
// refused while a container runs on the volume; the record says so, and says whether the
// stack is healthy.
func TestAPutBackThatCannotStopTheStackLeavesTheDataWhereTheServerRuns(t *testing.T) {
	var d *docker.Activities
	var vol *volume.Activities
	stops := 0
	r := newRig(t, rigOptions{first: func(r *rig) {
		r.OnActivity(d.StopProject, mock.Anything, mock.Anything).Return(func(context.Context, docker.StopInput) (docker.StopResult, error) {
			stops++
			if stops > 1 {
				return docker.StopResult{}, temporal.NewNonRetryableApplicationError("the engine timed out", "EngineTimeout", nil)
			}
			return docker.StopResult{Stopped: []string{"db"}}, r.step("stop")
		})
		r.OnActivity(vol.UnswapVolume, mock.Anything, mock.Anything).Return(func(context.Context, volume.SwapInput) (volume.SwapResult, error) {
			return volume.SwapResult{}, temporal.NewNonRetryableApplicationError("refuse to unswap volume db_data by rename: volume db_data is mounted by running container algotrendy_v26_db_1; stop it first", failure.VolumeInUse, nil)
		})
	}})
	r.report = VerifyReport{Checks: []CheckResult{{Name: "data integrity", Passed: false, Evidence: "0"}}}

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Contains(t, err.Error(), "could not put back: what it started stopped (the engine timed out), volume db_data back in place (refuse to unswap volume db_data by rename: volume db_data is mounted by running container algotrendy_v26_db_1; stop it first); put back: the stack started again; the stack is healthy")
	require.Equal(t, "failed", r.progress().Phase)
}

// TestARunThatBeganBeforeTheStopUndoPutsBackAsItDid: runs recorded before the start
// recorded its undo replay the put-back they issued.
func TestARunThatBeganBeforeTheStopUndoPutsBackAsItDid(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.OnGetVersion(versionRunningState, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	r.OnGetVersion(versionStartWhatStopped, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	r.report = VerifyReport{Checks: []CheckResult{{Name: "data integrity", Passed: false, Evidence: "0"}}}

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.ErrorContains(t, r.GetWorkflowError(), "put back: volume db_data back in place, the stack started again; evidence")
	require.Equal(t, []string{"unswap db_data", "compose up", "notify failed", "remove staging"}, r.calls[r.index("verify")+1:])
}

func TestTheForensicVolumeStaysWhenItsSnapshotCannotBeStored(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["snapshot rewind-forensic-defaultt-db_data"] = temporal.NewNonRetryableApplicationError("evidence store refused", "BackupStoreConfig", nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.NoError(t, r.GetWorkflowError(), "the stack is restored and verified: nothing is put back")
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Contains(t, res.Notice, "the damaged data is kept in volume rewind-forensic-defaultt-db_data: its snapshot could not be stored")
	require.False(t, r.ran("remove volume rewind-forensic-defaultt-db_data"), "the forensic volume is freed only after its snapshot is stored")
	require.False(t, r.ran("unswap db_data"))
}

func TestFullWithNoPutBackLeavesTheStackAsTheFailureLeftIt(t *testing.T) {
	r := newRig(t, rigOptions{copy: true})
	r.fail["copy into db_data"] = errors.New("disk full")
	req := request(api.OptionFull, "P1", "alice")
	req.NoPutBack = true

	r.ExecuteWorkflow(Full, req)

	require.ErrorContains(t, r.GetWorkflowError(), "left as it is (--no-put-back): to put back: the stack started again, volume db_data from its snapshot")
	require.False(t, r.ran("restore db_data from failed_deployment_db_data.tar.gz"))
	require.NotContains(t, r.calls[r.index("copy into db_data"):], "compose up", "nothing starts the stack after the failure")
}

func TestNoPutBackAfterARename(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.fail["wait healthy"] = temporal.NewNonRetryableApplicationError("api (unhealthy)", "NotHealthy", nil)
	req := request(api.OptionFull, "P1", "alice")
	req.NoPutBack = true
	r.ExecuteWorkflow(Full, req)
	require.ErrorContains(t, r.GetWorkflowError(), "left as it is (--no-put-back): to put back: the stack started again, volume db_data back in place")
	require.False(t, r.ran("unswap db_data"))
}

func TestFullRestoresEveryVolumeAndAFailureInTheSecondPutsBothBack(t *testing.T) {
	r := newRig(t, rigOptions{volumes: []string{"db_data", "cache_data"}})
	r.fail["swap cache_data"] = temporal.NewNonRetryableApplicationError("mover refused", failure.BadInput, nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.ErrorContains(t, err, "put back and healthy: volume cache_data back in place, volume db_data back in place, the stack started again")
	require.Less(t, r.index("prepare cache_data_2.tar.gz"), r.index("stop"), "both volumes are proven before anything stops")
	require.Equal(t, []string{"unswap cache_data", "unswap db_data", "compose up"}, r.calls[r.index("swap cache_data")+1:r.index("compose up")+1],
		"the half-done swap of the second is undone too: its undo was in place before it began")
}

func TestFullOfTwoVolumesFallsBackPerVolume(t *testing.T) {
	r := newRig(t, rigOptions{volumes: []string{"db_data", "cache_data"}})
	r.fail["prepare cache_data_2.tar.gz"] = temporal.NewNonRetryableApplicationError("sha256 differs", failure.ChecksumMismatch, nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.NoError(t, r.GetWorkflowError())
	var res api.Result
	require.NoError(t, r.GetWorkflowResult(&res))
	require.Equal(t, "restored db_data_2.tar.gz, cache_data_1.tar.gz", res.Notice)
}

func TestCancelledAfterTheSwapPutsTheOldDataBack(t *testing.T) {
	var d *docker.Activities
	r := newRig(t, rigOptions{copy: true, first: func(r *rig) {
		r.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).After(time.Hour).Return(docker.WaitHealthyResult{}, nil).Once()
	}})
	r.RegisterDelayedCallback(r.CancelWorkflow, 10*time.Minute)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	require.True(t, temporal.IsCanceledError(r.GetWorkflowError()))
	require.Equal(t, []string{"stop", "remove volume db_data", "create volume db_data", "restore db_data from failed_deployment_db_data.tar.gz", "compose up", "wait healthy", "notify failed", "remove staging"},
		r.calls[r.index("compose up")+1:], "what the start started stops, the damaged data comes back from its snapshot, and the stack starts as it was")
}

func TestCancelledWhileWaitingForApprovalRemovesTheStagingVolumeAndNothingElse(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.RegisterDelayedCallback(r.CancelWorkflow, time.Minute)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	require.True(t, temporal.IsCanceledError(r.GetWorkflowError()))
	require.False(t, r.ran("stop"))
	require.True(t, r.ran("remove staging"), "the staged copy of the backup does not outlive the run")
}

func TestApprovalRefusesWhoMayNotDecideWithoutATraceAndKeepsWaiting(t *testing.T) {
	r := newRig(t, rigOptions{})
	var got []string
	r.decide(1*time.Minute, api.Decision{Approver: "alice", Approve: true}, &got)
	r.decide(2*time.Minute, api.Decision{Approver: "mallory", Approve: true}, &got)
	r.decide(3*time.Minute, api.Decision{Approver: "erin", Approve: true}, &got)
	r.decide(4*time.Minute, api.Decision{Approver: "bob", Approve: false}, &got)
	r.decide(5*time.Minute, api.Decision{Approver: "carol", Approve: true}, &got)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P3", "alice"))

	require.NoError(t, r.GetWorkflowError())
	require.Equal(t, []string{
		"refused: alice asked for this rollback and cannot approve it too",
		"refused: mallory is not an approver of this rollback",
		"refused: erin is senior; this severity needs tech-lead or above",
		"refused: bob is senior; this severity needs tech-lead or above",
		"accepted: approved by carol (tech-lead) to restore db_data_2.tar.gz " + sha('2'),
	}, got)
	var log []string
	for _, d := range r.progress().Decisions {
		log = append(log, d.Reason)
	}
	require.Equal(t, []string{"approved by carol (tech-lead) to restore db_data_2.tar.gz " + sha('2')}, log,
		"refused decisions leave no trace in history or the decision log")
}

func TestSignedDecisionsAreCheckedFieldByField(t *testing.T) {
	r := newRig(t, rigOptions{signatures: true})
	bob := r.people["bob"]
	right := identity.Statement{WorkflowID: api.WorkflowID("prod"), RunID: testRunID, Severity: "P2", Backup: sha('2')}
	wrongRun, wrongWorkflow, wrongBackup, expired := right, right, right, right
	wrongRun.RunID = "another-run"
	wrongWorkflow.WorkflowID = api.WorkflowID("staging")
	wrongBackup.Backup = sha('1')
	expired.Expires = time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	byErin := r.signed(r.people["erin"], true, right)
	byErin.Approver = "bob"
	var got []string
	r.decide(1*time.Minute, api.Decision{Approver: "bob", Approve: true}, &got)
	r.decide(2*time.Minute, r.signed(bob, true, wrongRun), &got)
	r.decide(3*time.Minute, r.signed(bob, true, wrongWorkflow), &got)
	r.decide(4*time.Minute, r.signed(bob, true, wrongBackup), &got)
	r.decide(5*time.Minute, r.signed(bob, true, expired), &got)
	r.decide(6*time.Minute, byErin, &got)
	r.decide(7*time.Minute, r.signed(bob, true, right), &got)

	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P2", "alice")))

	require.NoError(t, r.GetWorkflowError())
	require.Len(t, got, 7)
	require.Equal(t, "refused: bob has keys: sign with ssh-agent or --key (or --signature from `ssh-keygen -Y sign -n rewind`)", got[0])
	require.Contains(t, got[1], `signed for run "another-run", this is run "default-test-run-id"`)
	require.Contains(t, got[2], `signed for workflow "rewind-staging", this is workflow "rewind-prod"`)
	require.Contains(t, got[3], "signed for backup "+sha('1')+", the rollback restores "+sha('2'))
	require.Contains(t, got[4], "statement expired")
	require.Contains(t, got[5], "bob's signature is refused")
	require.Contains(t, got[6], "accepted: approved by bob (senior)")
}

func TestAnApprovalIsForTheBackupsItNamesAndAFallbackAsksAgain(t *testing.T) {
	var d *volume.Activities
	r := newRig(t, rigOptions{first: func(r *rig) {
		r.OnActivity(d.PrepareVolume, mock.Anything, mock.MatchedBy(func(in volume.PrepareInput) bool { return in.Backup == "/backups/db_data_2.tar.gz" })).
			After(5*time.Minute).Return(volume.RestoreResult{}, temporal.NewNonRetryableApplicationError("damaged", failure.CorruptBackup, nil))
	}})
	var got []string
	// bob approves while the newest backup is still being restored into staging.
	r.decide(time.Minute, api.Decision{Approver: "bob", Approve: true}, &got)
	r.decide(10*time.Minute, api.Decision{Approver: "carol", Approve: true}, &got)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	require.NoError(t, r.GetWorkflowError())
	require.Equal(t, []string{
		"accepted: approved by bob (senior) to restore db_data_2.tar.gz " + sha('2'),
		"accepted: approved by carol (tech-lead) to restore db_data_1.tar.gz " + sha('1'),
	}, got)
}

func TestNoDecisionEscalatesAtTheDecisionTimeAndGivesUpAtTheHardDeadline(t *testing.T) {
	r := newRig(t, rigOptions{})

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.NoDecision, errorType(t, err))
	require.Contains(t, err.Error(), "no approval within the hard deadline of 1h0m0s; nothing was changed")
	require.True(t, r.ran("notify escalated"))
	d := r.progress().Decisions
	require.Contains(t, d[len(d)-1].Reason, "no decision from a senior within 15m0s; escalated to tech-lead")
	require.False(t, r.ran("stop"))
	require.True(t, r.ran("remove staging"))
}

func TestRejectionEndsTheRollbackWithoutTouchingAnything(t *testing.T) {
	r := newRig(t, rigOptions{})
	var got []string
	r.decide(time.Minute, api.Decision{Approver: "bob", Approve: false, Reason: "the backup is a day old"}, &got)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P2", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.Rejected, errorType(t, err))
	require.Contains(t, err.Error(), "rejected by bob (senior): the backup is a day old; nothing was changed")
	require.False(t, r.ran("stop"), "a rejected rollback stops nothing")
}

func TestTheRequesterNeedsTheP1RoleAndToBeInThePolicy(t *testing.T) {
	for _, tc := range []struct{ severity, requester, want string }{
		{"P1", "mallory", "mallory is not in this worker's policy and may not start rollbacks"},
		{"P2", "mallory", "mallory is not in this worker's policy"},
	} {
		r := newRig(t, rigOptions{})
		r.ExecuteWorkflow(Full, request(api.OptionFull, tc.severity, tc.requester))
		err := r.GetWorkflowError()
		require.Equal(t, failure.NotAuthorized, errorType(t, err))
		require.Contains(t, err.Error(), tc.want)
		require.Empty(t, r.calls, "refused before any step on the host")
	}
}

func TestAStackTheWorkerDoesNotKnowIsRefusedBeforeAnything(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := request(api.OptionFull, "P1", "alice")
	req.Stack = "staging"
	r.ExecuteWorkflow(Full, req)
	err := r.GetWorkflowError()
	require.Contains(t, err.Error(), `unknown stack "staging"; this worker's configuration lists: prod`)
	require.Empty(t, r.calls)
}

func TestUnsignedStartIsRefusedWhenSignaturesAreRequired(t *testing.T) {
	r := newRig(t, rigOptions{signatures: true})
	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))
	err := r.GetWorkflowError()
	require.Equal(t, failure.NotAuthorized, errorType(t, err))
	require.Contains(t, err.Error(), "alice has keys: sign with ssh-agent or --key")
	require.Empty(t, r.calls)

	r = newRig(t, rigOptions{signatures: true})
	r.ExecuteWorkflow(Full, r.signedRequest(request(api.OptionFull, "P1", "alice")))
	require.NoError(t, r.GetWorkflowError())

	r = newRig(t, rigOptions{signatures: true})
	req := r.signedRequest(request(api.OptionFull, "P1", "alice"))
	req.Requester = "bob"
	r.ExecuteWorkflow(Full, req)
	require.ErrorContains(t, r.GetWorkflowError(), "bob's signature is refused: signing key is not allowed", "a start signed with someone else's key")
}

// TestARequestCarryingATargetOrPolicyRunsTheWorkersOwn: fields a request of a release
// before 2026-11 carried (the stack's target, its host queue, the policy) are not part of
// a request: the run takes its volumes, host and approvers from the worker's configuration.
func TestARequestCarryingATargetOrPolicyRunsTheWorkersOwn(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := map[string]any{
		"Stack": "prod", "Option": api.OptionFull, "Severity": "P1", "Reason": "market_data corrupted", "Requester": "alice",
		"Target":    map[string]any{"Volumes": []string{"payments_db"}, "ComposeCommand": []string{"sh", "-c", "touch /tmp/owned"}},
		"HostQueue": "rewind@other-host",
		"Policy":    map[string]any{"Rule": map[string]any{"Role": "engineering-manager"}},
	}
	r.ExecuteWorkflow("Full", req)
	require.NoError(t, r.GetWorkflowError())
	require.True(t, r.ran("inspect db_data"), "the worker's volume: %v", r.calls)
	require.False(t, r.ran("inspect payments_db"))
	require.Contains(t, r.progress().Decisions[0].Reason, "P1 policy: alice (on-call) proceeds at once", "the worker's policy")
}

// TestAPutBackWaitsOnAStackFoundBrokenOnlyAGlance: a stack that was not healthy when the
// rollback found it is started again and looked at briefly, not waited on for its whole
// health timeout; the record says how it was found.
func TestAPutBackWaitsOnAStackFoundBrokenOnlyAGlance(t *testing.T) {
	var d *docker.Activities
	var waits []time.Duration
	r := newRig(t, rigOptions{first: func(r *rig) {
		r.OnActivity(d.CaptureState, mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.CaptureInput) (docker.CaptureResult, error) {
			require.Equal(t, []string{"http://localhost:5002/health"}, in.Probes)
			return docker.CaptureResult{Health: "not healthy: http://localhost:5002/health (503 Service Unavailable)"}, r.step("capture")
		})
		r.OnActivity(d.WaitHealthy, mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.WaitHealthyInput) (docker.WaitHealthyResult, error) {
			waits = append(waits, in.Timeout)
			return docker.WaitHealthyResult{}, temporal.NewNonRetryableApplicationError("project algotrendy_v26 not healthy after "+in.Timeout.String(), failure.NotHealthy, nil)
		})
	}})

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, []time.Duration{5 * time.Minute, glance}, waits, "the rollback's own wait is the stack's health timeout; the put-back's a glance")
	require.Contains(t, err.Error(), "put back: what it started stopped, volume db_data back in place, the stack started again; not healthy: project algotrendy_v26 not healthy after 15s (as found: not healthy: http://localhost:5002/health (503 Service Unavailable))")
	require.Contains(t, r.progress().Steps[0].Detail, "found not healthy: http://localhost:5002/health (503 Service Unavailable)")
}

// TestStagedDataThatCannotFitStopsNothing: where the staged data cannot be renamed in and
// does not fit the volume's filesystem, the rollback fails before the stop, having changed
// nothing, and removes its staging volume.
func TestStagedDataThatCannotFitStopsNothing(t *testing.T) {
	r := newRig(t, rigOptions{copy: true})
	r.fail["room db_data"] = temporal.NewNonRetryableApplicationError("the backup restores to 16.0 MiB, and volume db_data cannot take it by rename: its filesystem has 7.2 MiB free. Nothing was stopped", failure.NoSpace, nil)

	r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

	err := r.GetWorkflowError()
	require.Equal(t, failure.NoSpace, errorType(t, err))
	require.Contains(t, err.Error(), "its filesystem has 7.2 MiB free. Nothing was stopped; nothing was changed")
	require.False(t, r.ran("stop"))
	require.Less(t, r.index("room db_data"), r.index("remove staging"), "the staged copy does not outlive the run")
}

// TestFullStartsTheStackThroughTheEngine: after a swap the containers the stop stopped
// start as compose up would bring the project up, with no compose process; where a service has no container
// the start says so and compose up makes it.
func TestFullStartsTheStackThroughTheEngine(t *testing.T) {
	for _, copyIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("copy=%t", copyIn), func(t *testing.T) {
			var d *docker.Activities
			var asked []docker.ComposeUpInput
			r := newRig(t, rigOptions{copy: copyIn, first: func(r *rig) {
				r.OnActivity(d.StartProject, mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.ComposeUpInput) (docker.StartResult, error) {
					asked = append(asked, in)
					if copyIn {
						return docker.StartResult{NeedsCompose: "service questdb has no container"}, r.step("start containers")
					}
					return docker.StartResult{Started: []string{"api", "questdb"}}, r.step("start containers")
				})
			}})

			r.ExecuteWorkflow(Full, request(api.OptionFull, "P1", "alice"))

			require.NoError(t, r.GetWorkflowError())
			require.Equal(t, []docker.ComposeUpInput{{Project: "algotrendy_v26", Files: []string{"docker-compose.prod.yml"}, WorkingDir: "/srv/algotrendy",
				Stopped: []string{"api", "questdb"}}}, asked, "the start starts only what the stop stopped")
			start := r.calls[r.index("start containers") : r.index("wait healthy")+1]
			if copyIn {
				require.Equal(t, []string{"start containers", "compose up", "wait healthy"}, start)
			} else {
				require.Equal(t, []string{"start containers", "wait healthy"}, start)
			}
		})
	}
}
