package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	"github.com/algotrendy/rewind/workflows/api"
)

// backupRig runs the Backup workflow of stack prod in mode with the real policy activity
// and the host's steps mocked; copy is what BackupVolume answers. It returns the steps in
// the order they ran.
func backupRig(t *testing.T, mode string, copyErr error) ([]string, api.BackupResult, error) {
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    host: docker-1
    volumes: [db_data]
    backups: {dir: /backups, pattern: "questdb_backup_*.tar.gz", consistency: `+mode+`}
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
