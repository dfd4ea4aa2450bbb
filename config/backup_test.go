package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBackupConsistencyIsCheckedAndDefaultsToPause(t *testing.T) {
	for _, tc := range []struct {
		name, backups, want string
	}{
		{"unknown mode", "{dir: /b, consistency: snapshot}", `stacks.prod.backups.consistency: got "snapshot", want checkpoint, pause, stop`},
		{"checkpoint without a database", "{dir: /b, consistency: checkpoint}", `stacks.prod.backups.database_url: got "", want the database's HTTP /exec API`},
		{"checkpoint over PostgreSQL", "{dir: /b, consistency: checkpoint, database_url: \"postgres://db:5432/x\"}", `stacks.prod.backups.database_url: got "postgres://db:5432/x", want the database's HTTP API`},
		{"secret in the URL", "{dir: /b, database_url: \"http://admin:hunter2@db:9000\"}", `stacks.prod.backups.database_url: got a URL with`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, "stacks:\n  prod:\n    compose_files: [a.yml]\n    backups: "+tc.backups+"\n"), nil)
			require.Error(t, err)
			require.True(t, IsProblems(err))
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}

	cfg, err := Load(writeConfig(t, "stacks:\n  prod:\n    compose_files: [a.yml]\n    checks: {database_url: \"http://db:9000\"}\n  edge:\n    compose_files: [a.yml]\n    checks: {database_url: \"http://db:9000\"}\n    backups: {consistency: checkpoint, database_url: \"http://db2:9000\"}\n"), nil)
	require.NoError(t, err)
	require.Equal(t, ConsistencyPause, cfg.Stacks["prod"].Backups.Consistency)
	require.Equal(t, "http://db:9000", cfg.Stacks["prod"].CheckpointURL(), "checks.database_url stands in")
	require.Equal(t, "http://db2:9000", cfg.Stacks["edge"].CheckpointURL())
}
