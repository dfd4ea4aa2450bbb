package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/algotrendy/rewind/backups"
	"github.com/algotrendy/rewind/config"
)

// putBackup writes a backup with its sidecar and, when marker is not "", a marker naming
// marker with the backup's sha256; it returns the sha256.
func putBackup(t *testing.T, dir, name, marker string) string {
	t.Helper()
	body := []byte("backup " + name)
	sum := sha256.Sum256(body)
	sha := hex.EncodeToString(sum[:])
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), body, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, backups.SidecarName(name)), []byte(sha+"  "+filepath.Base(name)+"\n"), 0o600))
	if marker != "" {
		m, _ := json.Marshal(backups.Marker{Name: marker, SHA256: sha, Workflow: "rewind-prod-backup"})
		require.NoError(t, os.WriteFile(filepath.Join(dir, backups.MarkerName(name)), m, 0o600))
	}
	return sha
}

// TestBackupsListsByTheWorkersRules: `rewind backups` decides as the worker's retention
// does: a marker naming another backup is not Rewind's (backups.Ours), a drill is found by
// the listed name (a backup in a subfolder too) and sha256, ages count from the time in
// the name; a drill record that cannot be read is named, the backups are still listed,
// and --prune --dry-run removes nothing, as the worker would not.
func TestBackupsListsByTheWorkersRules(t *testing.T) {
	store, state := t.TempDir(), t.TempDir()
	file := filepath.Join(t.TempDir(), "rewind.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
worker: {state_dir: `+state+`}
stacks:
  prod:
    project: algotrendy_v26
    compose_files: [docker-compose.prod.yml]
    working_dir: /srv/algotrendy
    volumes: [db_data]
    backups: {dir: `+store+`, pattern: "questdb_backup_*.tar.gz", keep: {last: 1}}
approvers:
  - {name: alice, role: on-call}
`), 0o600))
	cfg, err := config.Load(file, nil)
	require.NoError(t, err)
	s := cfg.Stacks["prod"]

	const sub, other = "nightly/questdb_backup_20261102_020000.tar.gz", "questdb_backup_20261101_020000.tar.gz"
	sha := putBackup(t, store, sub, filepath.Base(sub))
	putBackup(t, store, other, "questdb_backup_20261031_020000.tar.gz") // its marker names another backup
	drills := backups.Drills{Dir: backups.DrillsDir(state)}
	require.NoError(t, drills.Record("prod", backups.Drill{Name: sub, SHA256: sha, At: time.Now(), OK: true}))

	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	views, unread, err := listBackups(cmd, cfg, "prod", s)
	require.NoError(t, err)
	require.NoError(t, unread)
	require.Len(t, views, 2)
	require.Equal(t, sub, views[0].Name)
	require.True(t, views[0].Ours)
	require.True(t, views[0].Proven(), "the drill of the backup in a subfolder is found by its listed name")
	require.False(t, views[1].Ours, "a marker naming another backup does not make this one Rewind's")

	// Ages count from the time in the name, not the file's modification time (now).
	var out bytes.Buffer
	now := time.Date(2026, 11, 2, 5, 0, 0, 0, time.UTC)
	printBackups(&out, s, views, now)
	require.Contains(t, out.String(), sub+"  3h00m")
	require.Contains(t, out.String(), "newest proven backup 3 h 0 min old")

	require.NoError(t, os.WriteFile(filepath.Join(backups.DrillsDir(state), "prod", "broken.json"), []byte("{not json"), 0o600))
	views, unread, err = listBackups(cmd, cfg, "prod", s)
	require.NoError(t, err)
	require.ErrorContains(t, unread, "broken.json")
	require.Len(t, views, 2, "the backups are still listed")
	require.True(t, views[0].Proven(), "the records that could be read still show")
	for _, p := range prunePlan(s, views, unread) {
		require.True(t, p.Keep, "%s: without every drill record the worker removes nothing", p.Name)
	}
}
