package backups_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/failure"
	"github.com/algotrendy/rewind/storage"
)

func TestListFindsBackupsByTheRunbooksNamingNewestFirst(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"questdb_backup_20261124_020000.tar.gz":        "old",
		"questdb_backup_20261126_020000.tar.gz":        "new",
		"questdb_backup_20261126_020000.sha256":        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  questdb_backup_20261126_020000.tar.gz\n",
		"questdb_backup_20261126_020000.fingerprint":   "500 | 3246.5\n",
		"questdb_backup_20261125_020000.tar.gz":        "mid",
		"questdb_backup_20261125_020000.tar.gz.sha256": "A665A45920422F9D417E4867EFDC4FB8A04A1F3FFF1FA07E998E86F7F7A27AE3\n",
		"redis_backup_20261126_020000.tar.gz":          "other volume",
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	// Modification times say the opposite of the names: the names win, as `ls -t` means.
	for i, name := range []string{"questdb_backup_20261126_020000.tar.gz", "questdb_backup_20261125_020000.tar.gz", "questdb_backup_20261124_020000.tar.gz"} {
		mod := time.Date(2026, 11, 20+i, 0, 0, 0, 0, time.UTC)
		require.NoError(t, os.Chtimes(filepath.Join(dir, name), mod, mod))
	}
	ctx := context.Background()
	s, err := backups.Open(ctx, storage.Location{Dir: dir})
	require.NoError(t, err)

	listed, err := backups.List(ctx, s, backups.Query{Pattern: "questdb_backup_*.tar.gz", Checksums: true})
	require.NoError(t, err)
	var names []string
	for _, l := range listed {
		names = append(names, l.Name)
	}
	require.Equal(t, []string{"questdb_backup_20261126_020000.tar.gz", "questdb_backup_20261125_020000.tar.gz", "questdb_backup_20261124_020000.tar.gz"}, names)
	require.Equal(t, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", listed[0].SHA256)
	require.Equal(t, "questdb_backup_20261126_020000.sha256", listed[0].Sidecar)
	require.Equal(t, "500 | 3246.5", listed[0].Fingerprint)
	require.Equal(t, "a665a45920422f9d417e4867efdc4fb8a04a1f3fff1fa07e998e86f7f7a27ae3", listed[1].SHA256, "sha256sum's own sidecar name, its hash lowercased")
	require.Empty(t, listed[2].SHA256+listed[2].Sidecar+listed[2].Fingerprint)

	newest, err := backups.List(ctx, s, backups.Query{Pattern: "questdb_backup_*.tar.gz", Limit: 1})
	require.NoError(t, err)
	require.Len(t, newest, 1)
	require.Empty(t, newest[0].SHA256, "sidecars are read only when asked for")

	pinned, err := backups.List(ctx, s, backups.Query{Pattern: "questdb_backup_*.tar.gz", Only: "questdb_backup_20261125_020000.tar.gz"})
	require.NoError(t, err)
	require.Len(t, pinned, 1)
	_, err = backups.List(ctx, s, backups.Query{Pattern: "questdb_backup_*.tar.gz", Only: "redis_backup_20261126_020000.tar.gz"})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, failure.NoGoodBackup, appErr.Type())
	require.Contains(t, appErr.Message(), "no backup redis_backup_20261126_020000.tar.gz matching questdb_backup_*.tar.gz in "+dir)
}
