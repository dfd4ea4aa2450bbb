package backups_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
)

func TestVerdictsKeepTheLatestOnEachBackup(t *testing.T) {
	vs := backups.Verdicts{Dir: backups.VerdictsDir(t.TempDir())}
	none, err := vs.Load("prod")
	require.NoError(t, err)
	require.Empty(t, none, "a host that never read a backup has no verdicts")

	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	failed := backups.Verdict{Name: "s3dir/questdb_backup_20261126_020000.tar.gz", At: at, By: "rewind backups --verify", Detail: "damaged"}
	require.NoError(t, vs.Record("prod", failed))
	restored := backups.Verdict{Name: "questdb_backup_20261125_020000.tar.gz", At: at, OK: true, By: "rewind-prod/run", Bytes: 100 << 20, Seconds: 4, Restored: true}
	require.NoError(t, vs.Record("prod", restored))
	restored.At = at.Add(time.Hour)
	require.NoError(t, vs.Record("prod", restored), "a later read replaces the last")

	got, err := vs.Load("prod")
	require.NoError(t, err)
	require.Equal(t, map[string]backups.Verdict{failed.Name: failed, restored.Name: restored}, got)
	require.InDelta(t, 25<<20, got[restored.Name].Rate(), 1)
	require.Zero(t, got[failed.Name].Rate(), "a failed read measured nothing")

	other, err := vs.Load("staging")
	require.NoError(t, err)
	require.Empty(t, other, "each stack has its own")

	require.NoError(t, os.WriteFile(filepath.Join(vs.Dir, "prod", "broken.json"), []byte("{"), 0o600))
	_, err = vs.Load("prod")
	require.ErrorContains(t, err, "verdicts/prod/broken.json")
}
