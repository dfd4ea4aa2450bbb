package workflows

import (
	"context"
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
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/algotrendy/rewind/activities/docker"
	"github.com/algotrendy/rewind/activities/policy"
	"github.com/algotrendy/rewind/activities/probe"
	"github.com/algotrendy/rewind/activities/volume"
	"github.com/algotrendy/rewind/config"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/retention"
	"github.com/algotrendy/rewind/workflows/api"
)

// backupRig runs the Backup workflow of stack prod in mode with the real policy activity
// and the host's steps mocked; copy is what BackupVolume answers. It returns the steps in
// the order they ran.
func backupRig(t *testing.T, mode string, copyErr error) ([]string, api.BackupResult, error) {
	return backupRigKeeping(t, mode, "", nil, copyErr)
}

// backupRigKeeping is backupRig for a stack with backups.keep (YAML, "" for none) whose
// rollback the server describes as running: the prune's steps are recorded too.
func backupRigKeeping(t *testing.T, mode, keep string, running *policy.Execution, copyErr error) ([]string, api.BackupResult, error) {
	if keep != "" {
		keep = ", keep: " + keep
	}
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    host: docker-1
    volumes: [db_data]
    backups: {dir: /backups, pattern: "questdb_backup_*.tar.gz", consistency: `+mode+keep+`}
    checks: {database_url: "http://127.0.0.1:9000"}
approvers:
  - {name: carol, role: on-call}
`), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: api.BackupWorkflowID("prod")})
	env.SetStartTime(time.Date(2026, 12, 3, 14, 15, 0, 0, time.UTC))
	env.RegisterWorkflow(Backup)
	env.RegisterActivity(&policy.Activities{Config: cfg, Host: "docker-1"})
	env.RegisterActivity(&docker.Activities{})
	env.RegisterActivity(&volume.Activities{})
	env.RegisterActivity(&probe.Activities{})
	var mu sync.Mutex
	var calls []string
	ran := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, name)
	}
	env.OnActivity("HoldTargets", mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.HoldInput) ([]string, error) {
		ran("HoldTargets")
		return []string{"algotrendy_v26_questdb_1"}, nil
	})
	env.OnActivity("HoldWrites", mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.HoldInput) (docker.Held, error) {
		ran("HoldWrites " + in.Mode + " " + in.Containers[0])
		return docker.Held{}, nil
	})
	env.OnActivity("ReleaseWrites", mock.Anything, mock.Anything).Return(func(_ context.Context, in docker.HoldInput) (docker.Held, error) {
		ran("ReleaseWrites " + in.Mode + " " + in.Containers[0])
		return docker.Held{}, nil
	})
	env.OnActivity("CheckpointDatabase", mock.Anything, mock.Anything).Return(func(_ context.Context, in probe.CheckpointInput) (probe.Checkpointed, error) {
		ran(map[bool]string{false: "CHECKPOINT CREATE", true: "CHECKPOINT RELEASE"}[in.Release] + " " + in.URL)
		return probe.Checkpointed{}, nil
	})
	env.OnActivity("BackupVolume", mock.Anything, mock.Anything).Return(func(_ context.Context, in volume.BackupInput) (volume.SnapshotProof, error) {
		ran("BackupVolume " + in.Volume + " " + in.Name)
		if copyErr != nil {
			return volume.SnapshotProof{}, copyErr
		}
		return volume.SnapshotProof{Volume: in.Volume, Path: "/backups/" + in.Name, SHA256: "ab", Bytes: 42}, nil
	})
	env.OnActivity("PruneBackups", mock.Anything, mock.Anything).Return(func(_ context.Context, in volume.PruneInput) (volume.PruneResult, error) {
		ran(fmt.Sprintf("PruneBackups %s %s last=%d", in.Volume, in.Pattern, in.Keep.Last))
		return volume.PruneResult{Volume: in.Volume, Removed: []string{"questdb_backup_20261101_020000.tar.gz"},
			Decisions: []retention.Decision{{Backup: retention.Backup{Name: "questdb_backup_20261203_141500.tar.gz"}, Keep: true, Why: []string{"last"}}}}, nil
	})
	env.OnActivity("Execution", mock.Anything, mock.Anything).Return(func(_ context.Context, in policy.ExecutionInput) (policy.Execution, error) {
		ran("Execution " + in.WorkflowID)
		if running != nil {
			return *running, nil
		}
		return policy.Execution{WorkflowID: in.WorkflowID}, nil
	})
	env.ExecuteWorkflow(Backup, api.BackupRequest{Stack: "prod", Requester: "carol", Option: api.OptionBackup, Severity: api.BackupSeverity})
	require.True(t, env.IsWorkflowCompleted())
	var res api.BackupResult
	err = env.GetWorkflowError()
	if err == nil {
		require.NoError(t, env.GetWorkflowResult(&res))
	}
	return calls, res, err
}

func TestABackupHoldsTheDatabaseForTheCopyAndReleasesIt(t *testing.T) {
	calls, res, err := backupRig(t, "checkpoint", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"CHECKPOINT CREATE http://127.0.0.1:9000", "BackupVolume db_data questdb_backup_20261203_141500.tar.gz", "CHECKPOINT RELEASE http://127.0.0.1:9000"}, calls)
	require.Equal(t, "checkpoint", res.Mode)
	require.True(t, res.Released)
	require.Equal(t, []api.BackupWritten{{Volume: "db_data", Name: "questdb_backup_20261203_141500.tar.gz", Location: "/backups/questdb_backup_20261203_141500.tar.gz", SHA256: "ab", Bytes: 42}}, res.Backups)

	calls, res, err = backupRig(t, "pause", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"HoldTargets", "HoldWrites pause algotrendy_v26_questdb_1", "BackupVolume db_data questdb_backup_20261203_141500.tar.gz", "ReleaseWrites pause algotrendy_v26_questdb_1"}, calls)
	require.True(t, res.Released)
}

func TestAFailedCopyStillReleasesTheHold(t *testing.T) {
	for _, mode := range []string{"checkpoint", "pause", "stop"} {
		t.Run(mode, func(t *testing.T) {
			calls, _, err := backupRig(t, mode, temporal.NewNonRetryableApplicationError("disk full", failure.NoSpace, nil))
			require.Error(t, err)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr))
			require.Contains(t, appErr.Error(), "disk full")
			last := calls[len(calls)-1]
			require.Equal(t, map[string]string{"checkpoint": "CHECKPOINT RELEASE http://127.0.0.1:9000", "pause": "ReleaseWrites pause algotrendy_v26_questdb_1",
				"stop": "ReleaseWrites stop algotrendy_v26_questdb_1"}[mode], last, "the release ran after the failed copy")
		})
	}
}

// With backups.keep, retention runs once the hold is released, on each volume with the
// stack's policy (which itself keeps every backup while a rollback of the stack runs).
func TestABackupAppliesTheKeepPolicyAfterTheRelease(t *testing.T) {
	calls, res, err := backupRigKeeping(t, "pause", "{last: 3}", nil, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"HoldTargets", "HoldWrites pause algotrendy_v26_questdb_1", "BackupVolume db_data questdb_backup_20261203_141500.tar.gz",
		"ReleaseWrites pause algotrendy_v26_questdb_1", "Execution rewind-prod", `PruneBackups db_data questdb_backup_*.tar.gz last=3`}, calls)
	require.Equal(t, []api.Pruned{{Volume: "db_data", Removed: []string{"questdb_backup_20261101_020000.tar.gz"}, Kept: []string{"questdb_backup_20261203_141500.tar.gz (last)"}}}, res.Retention)

	// The workflow's answer is no longer the prune's input: the prune asks Temporal itself
	// before each removal (activities/volume), so a caller cannot say "none runs".
	calls, _, err = backupRigKeeping(t, "pause", "{last: 3}", &policy.Execution{Found: true, WorkflowID: "rewind-prod", RunID: "r1", Running: true, Ours: true}, nil)
	require.NoError(t, err)
	require.Equal(t, `PruneBackups db_data questdb_backup_*.tar.gz last=3`, calls[len(calls)-1])

	// No policy: nothing is asked, nothing pruned; a failed copy prunes nothing either.
	calls, res, err = backupRigKeeping(t, "pause", "", nil, nil)
	require.NoError(t, err)
	require.NotContains(t, strings.Join(calls, "\n"), "Prune")
	require.Empty(t, res.Retention)
	calls, _, err = backupRigKeeping(t, "pause", "{last: 3}", nil, temporal.NewNonRetryableApplicationError("disk full", failure.NoSpace, nil))
	require.Error(t, err)
	require.NotContains(t, strings.Join(calls, "\n"), "Prune")
}
