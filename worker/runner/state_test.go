package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/holds"
	"github.com/stretchr/testify/require"
)

func TestPruneStateRemovesOnlyOldFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "downloads", "abc-questdb_backup.tar.gz")
	fresh := filepath.Join(dir, "restore-123.json")
	require.NoError(t, os.MkdirAll(filepath.Dir(old), 0o755))
	require.NoError(t, os.WriteFile(old, []byte("x"), 0o644))
	require.NoError(t, os.WriteFile(fresh, []byte("{}"), 0o644))
	long := time.Now().Add(-96 * time.Hour)
	require.NoError(t, os.Chtimes(old, long, long))
	var records []string
	for _, sub := range []string{backups.VerdictsDir(dir), backups.DrillsDir(dir), holds.Dir(dir)} {
		record := filepath.Join(sub, "prod", "questdb_backup_20261101_030000.tar.gz.json")
		require.NoError(t, os.MkdirAll(filepath.Dir(record), 0o755))
		require.NoError(t, os.WriteFile(record, []byte("{}"), 0o644))
		require.NoError(t, os.Chtimes(record, long, long))
		records = append(records, record)
	}

	n, err := PruneState(dir, 72*time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoFileExists(t, old)
	require.FileExists(t, fresh, "a running rollback's checkpoint stays")
	for _, record := range records {
		require.FileExists(t, record, "the host's records are kept whatever their age")
	}

	n, err = PruneState(filepath.Join(dir, "missing"), time.Hour)
	require.NoError(t, err, "a state folder not made yet is nothing to prune")
	require.Zero(t, n)
}
